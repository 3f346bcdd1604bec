"""AlpacaEval-style pairwise win rate on the user's own questions.

Two candidate models answer each question through the project's one answer path (`Responder` over a
`Pipeline` whose config differs only in `generator:`, so retrieval, prompt, guardrails and the answer
policy are the served ones; the answer cache is left out so neither model is served the other's
answer), or, without a project, the bare question with no retrieval. A configured judge compares the
two answers in both orders. Following MT-Bench's swap rule (Zheng et al. 2023, "Judging LLM-as-a-judge"),
a question is a win only when the judge prefers the same model in both orders; a verdict that flips with
the order, or a preference in one order and a tie in the other, is a tie. A judgement the judge's reply
does not give (after one retry) makes the question missing, with the reason: never a tie.

Answers and verdicts are appended to JSONL files in the output folder as they are made, so a rerun, or
a run after an interruption, generates only what is not there yet.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from llmpilot.config import GeneratorConfig, stable_hash
from llmpilot.errors import ConfigError, DatasetError, LlmpilotError
from llmpilot.evaluation.bootstrap import bootstrap_ci
from llmpilot.models.pairwise_judge import OrderJudgement, judge_messages, judge_order
from llmpilot.models.pairwise_specs import ModelSpec
from llmpilot.progress import Reporter
from llmpilot.project import Project
from llmpilot.protocols import Generator, SourceAnswerer

#: Which model a judgement (or a question) favours: model a, model b, or neither.
Preference = Literal["a", "b", "tie"]
Outcome = Literal["a", "b", "tie", "missing"]
#: The two orders each question is judged in: a shown first, then b shown first.
ORDERS = ("ab", "ba")
ANSWERS_FILE = "answers.jsonl"
JUDGEMENTS_FILE = "judgements.jsonl"
#: The folder a project's own eval set is looked for in when no --questions file is given.
PROJECT_EVAL_DIR = "eval"


# --- questions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairQuestion:
    id: str
    text: str


def _read_questions_jsonl(path: Path) -> list[PairQuestion]:
    """JSONL rows {"id"?, "text"} (a dataset's queries.jsonl is one); every bad line named."""
    questions: list[PairQuestion] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc.reason}); re-save the file as UTF-8") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(f'{path}:{lineno}: expected a JSON object {{"id"?, "text"}}')
        text = row.get("text", row.get("question"))
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{path}:{lineno}: field 'text' is missing or empty; write the question there")
        qid = str(row.get("id", f"line{lineno}"))
        if qid in seen:
            raise DatasetError(f"{path}:{lineno}: duplicate id {qid!r}")
        seen.add(qid)
        questions.append(PairQuestion(qid, text.strip()))
    return questions


def load_questions(
    source: Path | None, *, project: Project | None = None, limit: int | None = None, workdir: Path
) -> list[PairQuestion]:
    """The questions to compare on: `source` (JSONL {"id"?, "text"}, or any eval-set format that
    `llmpilot eval import` reads: a dataset folder, BEIR, AutoRAG parquet, CSV/XLSX), else the
    project's eval set in PROJECT/eval; the first `limit` of them. `workdir` holds imported copies."""
    if source is None:
        if project is None:
            raise ConfigError('no questions: pass --questions FILE (JSONL with one {"text": …} per line)')
        source = project.root / PROJECT_EVAL_DIR
        if not source.exists():
            raise ConfigError(
                f"{project.root}: the project has no eval set at {source}; pass --questions FILE (JSONL, "
                f'one {{"id", "text"}} per line) or import one with `llmpilot eval import SRC --out {source}`'
            )
    if not source.exists():
        raise DatasetError(f"{source}: no such file or folder")
    if source.is_file() and source.suffix.lower() == ".jsonl":
        questions = _read_questions_jsonl(source)
    elif source.is_dir() and (source / "queries.jsonl").is_file() and not (source / "corpus.jsonl").exists():
        questions = _read_questions_jsonl(source / "queries.jsonl")
    else:
        from llmpilot.evaluation.datasets import load_dataset
        from llmpilot.evaluation.importers import as_dataset_folder

        dataset = load_dataset(as_dataset_folder(source, workdir / "datasets"), include_unjudged=True)
        questions = [PairQuestion(q.id, q.text) for q in dataset.queries]
    if limit is not None:
        questions = questions[:limit]
    if not questions:
        raise DatasetError(f"{source}: no questions to compare the models on")
    return questions


# --- answers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateAnswer:
    """One model's answer to one question, as a user would have read it."""

    text: str
    abstained: bool = False
    #: "extractive" when the answer policy replaced the model's unsupported answer by quoted sources.
    fallback: str = ""
    #: The sources the answer was given ("title: snippet"), shown to the judge.
    sources: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class Candidate:
    """A model that answers: its label, what identifies its answers in the cache, and how it answers."""

    label: str
    identity: dict[str, Any]
    answer: Callable[[str], CandidateAnswer]


def project_candidate(spec: ModelSpec, project: Project) -> Candidate:
    """`spec`'s generator in the project's pipeline: retrieval, prompt, guardrails and answer policy as
    served; the answer cache off (it is keyed by the config, and must not serve one model's answers
    as the other's)."""
    from llmpilot.answering import Responder
    from llmpilot.pipeline import Pipeline

    config = project.config.model_copy(update={"generator": spec.config})
    swapped = Project(root=project.root, config=config, config_path=project.config_path, _store=project.store)
    responder = Responder(Pipeline(swapped), cache=False)

    def answer(question: str) -> CandidateAnswer:
        started = time.perf_counter()
        got = responder.ask(question, use_cache=False)
        return CandidateAnswer(
            text=got.text,
            abstained=got.abstained,
            fallback=got.fallback,
            sources=tuple(f"{c.title}: {c.snippet}" if c.title else c.snippet for c in got.sources),
            seconds=time.perf_counter() - started,
        )

    identity = {"generator": spec.config.model_dump(mode="json"), "pipeline": config.hash_form()}
    return Candidate(spec.label, {**identity, "project": str(project.root)}, answer)


def plain_candidate(spec: ModelSpec, generator: Generator | None = None) -> Candidate:
    """`spec`'s generator asked the bare question: no retrieval, no prompt template."""
    from llmpilot import factory

    built = generator or factory.generator(spec.config)
    cfg = spec.config

    def answer(question: str) -> CandidateAnswer:
        started = time.perf_counter()
        if isinstance(built, SourceAnswerer):  # quotes sources; with none it has nothing to say
            text = built.answer_sources(question, [])
        else:
            messages = [{"role": "user", "content": question}]
            text = built.generate(messages, max_tokens=cfg.max_tokens, temperature=cfg.temperature)
        return CandidateAnswer(text=text.strip(), seconds=time.perf_counter() - started)

    return Candidate(spec.label, {"generator": cfg.model_dump(mode="json"), "project": None}, answer)


class JsonlCache:
    """Values by key in an append-only JSONL file: what an interrupted run already made. A last line
    cut short by the interruption is ignored (it is made again)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._values: dict[str, dict[str, Any]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("key"), str) and "value" in row:
                    self._values[row["key"]] = row["value"]

    def get(self, key: str) -> dict[str, Any] | None:
        return self._values.get(key)

    def put(self, key: str, value: dict[str, Any], **context: Any) -> None:
        self._values[key] = value
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, **context, "value": value}, ensure_ascii=False) + "\n")
            handle.flush()

    def __len__(self) -> int:
        return len(self._values)


def _answer(candidate: Candidate, question: PairQuestion, cache: JsonlCache) -> tuple[CandidateAnswer, bool]:
    """The candidate's answer, from the cache when this model answered this question before."""
    key = stable_hash({"candidate": candidate.identity, "question": question.text})
    hit = cache.get(key)
    if hit is not None:
        return CandidateAnswer(**{**hit, "sources": tuple(hit.get("sources", ()))}), True
    got = candidate.answer(question.text)
    cache.put(key, asdict(got), model=candidate.label, question_id=question.id)
    return got, False


# --- judging -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """One order's judgement, read in terms of the models."""

    order: str  # "ab": model a shown first; "ba": model b shown first
    verdict: str | None  # about the answers as shown: "1", "2", "tie"; None = missing
    preferred: Preference | None
    raw: str
    attempts: int
    reason: str = ""


def preferred_model(order: str, verdict: str | None) -> Preference | None:
    """The model a verdict about the answers as shown favours."""
    if verdict is None:
        return None
    if verdict == "tie":
        return "tie"
    shown: tuple[Preference, Preference] = ("a", "b") if order == "ab" else ("b", "a")
    return shown[0] if verdict == "1" else shown[1]


def combine(ab: Preference | None, ba: Preference | None) -> tuple[Outcome, str]:
    """A question's outcome from its two orders (MT-Bench's swap rule): a model wins only when both
    orders prefer it; anything else judged in both orders is a tie; a missing order makes it missing."""
    if ab is None or ba is None:
        return "missing", "the judge gave no verdict in " + " and ".join(
            o for o, p in zip(ORDERS, (ab, ba), strict=True) if p is None
        ) + " order"
    if ab == ba:
        return ab, "both orders agree"
    if "tie" in (ab, ba):
        return "tie", "a preference in one order only (a tie in the other)"
    return "tie", "the verdict flips with the order (position bias)"


@dataclass
class QuestionRecord:
    question_id: str
    question: str
    answer_a: CandidateAnswer
    answer_b: CandidateAnswer
    judgements: list[Judged] = field(default_factory=list)
    outcome: Outcome = "missing"
    reason: str = ""

    @property
    def score(self) -> float | None:
        """Model a's score on this question: 1 win, 0.5 tie, 0 loss; None when missing."""
        return {"a": 1.0, "tie": 0.5, "b": 0.0}.get(self.outcome)

    def as_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "question": self.question,
            "answer_a": asdict(self.answer_a),
            "answer_b": asdict(self.answer_b),
            "judgements": [asdict(j) for j in self.judgements],
            "outcome": self.outcome,
            "score": self.score,
            "reason": self.reason,
        }


def _judge_one(
    judge: Generator,
    judge_identity: dict[str, Any],
    record: QuestionRecord,
    order: str,
    cache: JsonlCache,
    max_tokens: int,
) -> tuple[Judged, bool]:
    first, second = (
        (record.answer_a, record.answer_b) if order == "ab" else (record.answer_b, record.answer_a)
    )
    sources = record.answer_a.sources or record.answer_b.sources
    messages = judge_messages(record.question, sources, first.text, second.text)
    key = stable_hash({"judge": judge_identity, "messages": messages, "max_tokens": max_tokens})
    hit = cache.get(key)
    if hit is not None:
        got = OrderJudgement(**hit)
    else:
        got = judge_order(judge, record.question, sources, first.text, second.text, max_tokens=max_tokens)
        if got.verdict is not None:  # a missing verdict is asked again on the next run
            cache.put(key, asdict(got), question_id=record.question_id, order=order)
    judged = Judged(
        order, got.verdict, preferred_model(order, got.verdict), got.raw, got.attempts, got.reason
    )
    return judged, hit is not None


def _median(values: Sequence[float]) -> float | None:
    return round(float(statistics.median(values)), 3) if values else None


# --- the result ----------------------------------------------------------------------------------


@dataclass
class PairwiseResult:
    model_a: str
    model_b: str
    judge: str
    records: list[QuestionRecord]
    seconds: float = 0.0
    #: Answers and verdicts taken from the output folder instead of being made again.
    reused: dict[str, int] = field(default_factory=dict)
    seed: int = 0

    def summary(self) -> dict[str, Any]:
        """Model a's win rate against model b ((wins + ties / 2) / judged questions) with a bootstrap
        95% CI over the questions, and how the judge behaved."""
        scores = [r.score for r in self.records if r.score is not None]
        wins = sum(r.outcome == "a" for r in self.records)
        losses = sum(r.outcome == "b" for r in self.records)
        ties = sum(r.outcome == "tie" for r in self.records)
        verdicts = [j.verdict for r in self.records for j in r.judgements]
        shown = [v for v in verdicts if v is not None]
        both = [r for r in self.records if len(r.judgements) == 2 and all(j.preferred for j in r.judgements)]
        win_rate = ci = None
        if scores:
            mean, low, high = bootstrap_ci(scores, seed=self.seed)
            win_rate, ci = mean, [low, high]
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "judge": self.judge,
            "n": len(scores),
            "win_rate": win_rate,
            "ci": ci,
            "significant": ci is not None and (ci[0] > 0.5 or ci[1] < 0.5),
            "wins": wins,
            "losses": losses,
            "ties": ties,
            "missing": sum(r.outcome == "missing" for r in self.records),
            # Share of the judge's verdicts that picked the answer shown first (ties count in the
            # denominator): 0.5 of the non-tie verdicts would be an order-blind judge.
            "position_bias": (sum(v == "1" for v in shown) / len(shown)) if shown else None,
            "consistent": (
                sum(r.judgements[0].preferred == r.judgements[1].preferred for r in both) / len(both)
                if both
                else None
            ),
            "judgements": {
                "first": sum(v == "1" for v in shown),
                "second": sum(v == "2" for v in shown),
                "tie": sum(v == "tie" for v in shown),
                "missing": len(verdicts) - len(shown),
                # Questions whose two answers were the same text: a tie without asking the judge.
                "identical_answers": sum(not r.judgements for r in self.records if r.outcome == "tie"),
            },
            # Median seconds per answer (as first generated; reused answers keep their time).
            "answer_seconds_p50": {
                "a": _median([r.answer_a.seconds for r in self.records]),
                "b": _median([r.answer_b.seconds for r in self.records]),
            },
            "seconds": round(self.seconds, 3),
            "reused": dict(self.reused),
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "records": [r.as_dict() for r in self.records]}


def compare(
    questions: Sequence[PairQuestion],
    a: Candidate,
    b: Candidate,
    judge: Generator,
    *,
    judge_label: str,
    judge_identity: dict[str, Any] | None = None,
    out: Path | None = None,
    progress: bool = False,
    judge_max_tokens: int = 48,
    seed: int = 0,
) -> PairwiseResult:
    """Both candidates answer every question, the judge compares each pair in both orders."""
    if isinstance(judge, SourceAnswerer):
        raise ConfigError(
            f"judge {judge_label!r} quotes sources and cannot compare answers; pass --judge with a language "
            "model (a catalog name, a .gguf file, openai:MODEL@URL or a YAML file)"
        )
    started = time.perf_counter()
    answers = JsonlCache(out / ANSWERS_FILE if out is not None else None)
    verdicts = JsonlCache(out / JUDGEMENTS_FILE if out is not None else None)
    reused = {"answers": 0, "judgements": 0}
    identity = judge_identity if judge_identity is not None else {"judge": judge_label}
    by_model: dict[str, list[CandidateAnswer]] = {}
    with Reporter(progress).session() as reporter:
        for candidate in (a, b):
            task = reporter.task(f"answers: {candidate.label}", len(questions))
            got: list[CandidateAnswer] = []
            for question in questions:
                answer, was_cached = _answer(candidate, question, answers)
                reused["answers"] += was_cached
                got.append(answer)
                task.advance()
            by_model[candidate.label] = got
        records = [
            QuestionRecord(q.id, q.text, ans_a, ans_b)
            for q, ans_a, ans_b in zip(questions, by_model[a.label], by_model[b.label], strict=True)
        ]
        task = reporter.task(f"judging (both orders): {judge_label}", len(records))
        for record in records:
            if record.answer_a.text.strip() == record.answer_b.text.strip():
                record.outcome, record.reason = "tie", "identical answers (not sent to the judge)"
            else:
                for order in ORDERS:
                    judged, was_cached = _judge_one(
                        judge, identity, record, order, verdicts, judge_max_tokens
                    )
                    record.judgements.append(judged)
                    reused["judgements"] += was_cached
                record.outcome, record.reason = combine(*(j.preferred for j in record.judgements))
            task.advance()
    return PairwiseResult(
        a.label, b.label, judge_label, records, time.perf_counter() - started, reused, seed=seed
    )


def run_pairwise(
    model_a: ModelSpec,
    model_b: ModelSpec,
    judge: ModelSpec,
    questions: Sequence[PairQuestion],
    *,
    project: Project | None = None,
    out: Path | None = None,
    progress: bool = False,
    judge_max_tokens: int = 48,
    seed: int = 0,
) -> PairwiseResult:
    """The comparison with real components: candidates through the project's answer path (or bare
    questions without a project), the judge built by `llmpilot.factory.generator`."""
    from llmpilot import factory

    if model_a.label == model_b.label:
        raise ConfigError(f"--models: {model_a.label!r} twice; name two different models")

    def candidate(spec: ModelSpec) -> Candidate:
        return project_candidate(spec, project) if project is not None else plain_candidate(spec)

    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LlmpilotError(f"--out {out}: cannot create the folder: {exc.strerror or exc}") from None
    return compare(
        questions,
        candidate(model_a),
        candidate(model_b),
        factory.generator(judge.config),
        judge_label=judge.label,
        judge_identity={"generator": judge.config.model_dump(mode="json")},
        out=out,
        progress=progress,
        judge_max_tokens=judge_max_tokens,
        seed=seed,
    )


def judge_spec_default(project: Project | None) -> ModelSpec:
    """The judge when none is named: the project's own generator."""
    if project is None:
        raise ConfigError(
            "--judge is needed without --project (the default judge is the project's generator)"
        )
    cfg: GeneratorConfig = project.config.generator
    what = cfg.model or (Path(cfg.model_path).name if cfg.model_path else None) or cfg.name
    return ModelSpec(f"project generator ({what})", cfg)
