"""The approach advisor: prompt engineering, RAG, fine-tuning, a hybrid, or training from scratch.

The first decision in building an LLM service is *how* to build it. `advise` answers it from a few
decision factors (`DecisionFactors`) with a transparent additive score: every factor's value adds the
points of one row of `WEIGHTS` to each approach, so the reasons are the rows that separated the winner
from the runner-up, and anyone can recompute a score by hand. Ties go to the simpler approach.

When a measured comparison exists (`llmpilot strategies --out DIR` writes DIR/results.json), it is
evidence and the heuristic is a prior: the measured winner on the primary metric replaces the heuristic's
pick when, and only when, its advantage over that pick is significant (paired test p < 0.05, or the 95%
CIs do not overlap). A strategy the comparison did not run cannot overrule anything.

Expected costs come from the standard rules of thumb, stated in the output with every figure: training
FLOPs ≈ 6·N·D for N parameters and D tokens (Kaplan et al. 2020), compute-optimal D ≈ 20·N (Hoffmann et
al. 2022, "Chinchilla"), GPU-hours at an assumed sustained FLOP/s (`CostAssumptions`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmpilot.config import read_yaml_mapping
from llmpilot.errors import ConfigError, DatasetError

Approach = Literal["prompt", "rag", "finetune", "hybrid", "scratch"]
#: Simplest first: a tie in score goes to the approach that is cheaper to build and to run.
APPROACHES: tuple[Approach, ...] = get_args(Approach)

DataChange = Literal["never", "yearly", "monthly", "weekly", "daily"]
StyleChange = Literal["none", "some", "strong"]
Level = Literal["low", "medium", "high"]
DomainShift = Literal["none", "some", "extreme"]

#: Significance level of the measured override.
ALPHA = 0.05


def _parse_count(value: Any) -> Any:
    """Accept `5M`, `200B`, `2e11` and `1_000` for counts: corpus sizes are written that way."""
    if isinstance(value, bool):  # YAML's `yes`/`true` would otherwise count as 1
        raise ValueError("expected a number, got true/false")
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        if text.lower() in ("", "none", "null", "unknown"):
            return None
        match = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmMbBtT]?)", text)
        if match:
            scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
            return int(float(match.group(1)) * scale)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class DecisionFactors(BaseModel):
    """What decides between the approaches. The defaults are neutral (they favour nothing); a use case
    (`USE_CASE_DEFAULTS`) or an answers file replaces them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_data: bool = Field(
        False,
        description="Answers need knowledge the base model lacks (your documents, records, recent facts).",
    )
    data_change: DataChange = Field(
        "never", description="How often that knowledge changes (counts only with external_data)."
    )
    style_change: StyleChange = Field(
        "none",
        description="How far output style, format or behaviour must move from what the base model does "
        "when asked (none: a prompt is enough; strong: a house style, a fixed schema, a protocol).",
    )
    labeled_examples: int = Field(
        0, ge=0, description="Input→output examples you have (or can write) of the wanted behaviour."
    )
    hallucination_tolerance: Level = Field(
        "medium", description="How much an unsupported statement costs (low: it must not happen)."
    )
    citations_needed: bool = Field(
        False, description="Answers must show their sources (transparency, audits, regulated domains)."
    )
    latency_budget_ms: int | None = Field(
        None, gt=0, description="Time an answer may take, in milliseconds (none: no constraint)."
    )
    budget: Level = Field("medium", description="Money and people for building and running it.")
    domain_shift: DomainShift = Field(
        "none",
        description="How far the domain is from what the base model saw (extreme: a language or notation "
        "it never learned).",
    )
    corpus_tokens: int | None = Field(
        None,
        ge=0,
        description="Size of your document base / unlabeled domain text in tokens (e.g. 5M, 200B; "
        "none: unknown).",
    )

    @field_validator("labeled_examples", "corpus_tokens", "latency_budget_ms", mode="before")
    @classmethod
    def _counts(cls, value: Any) -> Any:
        return _parse_count(value)


FACTOR_NAMES: tuple[str, ...] = tuple(DecisionFactors.model_fields)

#: Defaults per use case (columns in FACTOR_NAMES order). `--use-case` picks a row; an answers file and
#: flags override single factors. Why each row:
#: - qa: questions over a document base that changes; wrong answers are costly and must be checkable.
#: - summarization: the input holds the facts; the output must take a house form, learned from examples.
#: - customer-service: product and policy knowledge that changes weekly, plus a conversation protocol
#:   (brand voice, policy wording, escalation) on every turn, learned from past transcripts.
#: - classification: a fixed label set, enough labels, inline in a request path: a small tuned model is
#:   faster and more accurate than prompting.
#: - chat: a general assistant; the base model's knowledge and manners, shaped by a system prompt.
#: - code: an assistant over a private code base that changes daily and must be looked up, not learned;
#:   labeled pairs are rare (the code itself is the knowledge).
#: - extraction: fields out of documents given in the input: a schema in the prompt and a few examples.
#: - translation: domain translation with a translation memory: parallel examples abound, terminology
#:   is learned.
# fmt: off
_USE_CASE_ROWS: dict[str, tuple[Any, ...]] = {
    #                   external change    style   labeled halluc. cite  latency budget  domain corpus
    "qa":               (True,  "monthly", "none",   200,   "low",    True,  None,  "medium", "none", 5e6),
    "summarization":    (False, "never",   "strong", 1_000, "medium", False, None,  "medium", "none", None),
    "customer-service": (True,  "weekly",  "strong", 2_000, "low",    False, 1_500, "medium", "none", 2e6),
    "classification":   (False, "never",   "strong", 2_000, "medium", False, 300,   "medium", "none", None),
    "chat":             (False, "never",   "some",   0,     "high",   False, 2_000, "low",    "none", None),
    "code":             (True,  "daily",   "some",   0,     "low",    False, 2_000, "medium", "some", 2e7),
    "extraction":       (False, "never",   "some",   30,    "low",    False, None,  "low",    "none", None),
    "translation":      (False, "never",   "some",   20000, "low",    False, 1_000, "medium", "some", None),
}
# fmt: on
USE_CASE_DEFAULTS: dict[str, dict[str, Any]] = {
    name: dict(zip(FACTOR_NAMES, row, strict=True)) for name, row in _USE_CASE_ROWS.items()
}

Points = tuple[int, int, int, int, int]

#: THE SCORE TABLE. An approach's score is the sum of its column over the `base` row and one row per
#: factor (the row of the factor's value or bucket, see `factor_buckets`). `data_change`,
#: `hallucination_tolerance` and `citations_needed` count only when external_data is true: without a
#: document base nothing has to be refreshed or retrieved, and answers rest on the input, which every
#: approach sees (grounding in retrieved sources is what these rows reward). Scratch can only
#: lead with an extreme domain shift, 100B+ tokens of corpus and a high budget together (the test checks
#: every combination of factor values).
# fmt: off
WEIGHTS: dict[str, dict[str, Points]] = {
    #                                       prompt  rag  finetune  hybrid  scratch
    "base":                    {"complexity": ( 2,   1,   0,  -1,  -6)},
    "external_data":           {"yes":        (-3,   3,  -1,   3,  -1),
                                "no":         ( 0,  -2,   0,  -2,   0)},
    "data_change":             {"never":      ( 0,   0,   1,   0,   0),
                                "yearly":     ( 0,   0,   0,   0,   0),
                                "monthly":    ( 0,   1,  -1,   1,  -1),
                                "weekly":     ( 0,   2,  -2,   2,  -3),
                                "daily":      ( 0,   3,  -3,   3,  -4)},
    "style_change":            {"none":       ( 0,   0,  -1,  -1,   0),
                                "some":       ( 0,   0,   2,   2,   0),
                                "strong":     (-2,  -1,   4,   4,   1)},
    "labeled_examples":        {"<50":        ( 1,   0,  -4,  -4,   0),
                                "50-499":     ( 0,   0,  -1,  -1,   0),
                                "500-4999":   ( 0,   0,   1,   1,   0),
                                ">=5000":     ( 0,   0,   2,   2,   0)},
    "hallucination_tolerance": {"low":        (-2,   2,  -1,   2,  -2),
                                "medium":     ( 0,   1,   0,   1,   0),
                                "high":       ( 1,   0,   0,   0,   0)},
    "citations_needed":        {"yes":        (-2,   3,  -3,   3,  -3),
                                "no":         ( 0,   0,   0,   0,   0)},
    "latency_budget_ms":       {"none":       ( 0,   0,   0,   0,   0),
                                "<500":       (-1,  -2,   2,  -2,   1),
                                "500-1999":   ( 0,  -1,   1,  -1,   0),
                                ">=2000":     ( 0,   0,   0,   0,   0)},
    "budget":                  {"low":        ( 2,   1,  -2,  -3, -12),
                                "medium":     ( 0,   0,   0,   0,  -8),
                                "high":       ( 0,   0,   1,   1,   0)},
    "domain_shift":            {"none":       ( 0,   0,   0,   0,  -4),
                                "some":       (-1,   0,   2,   2,  -1),
                                "extreme":    (-4,  -2,   4,   3,   6)},
    "corpus_tokens":           {"unknown":    ( 0,   0,   0,   0,  -6),
                                "<1B":        ( 0,   0,   0,   0,  -6),
                                "1B-10B":     ( 0,   0,   1,   1,  -3),
                                "10B-100B":   ( 0,   0,   2,   2,  -1),
                                ">=100B":     ( 0,   0,   2,   2,   4)},
}
# fmt: on

#: Why each row scores as it does; the sentence becomes a reason when the row separates the top two.
WHY: dict[str, dict[str, str]] = {
    "base": {"complexity": "simpler approaches are cheaper to build, run and change"},
    "external_data": {
        "yes": "answers need knowledge the model lacks: retrieval supplies it at answer time, while "
        "fine-tuning teaches facts unreliably",
        "no": "no external knowledge is needed, so retrieval adds cost and nothing else",
    },
    "data_change": {
        "never": "the knowledge never changes, so it could be trained in once",
        "yearly": "the knowledge changes yearly",
        "monthly": "the knowledge changes monthly: an index refreshes incrementally, trained weights need "
        "retraining",
        "weekly": "the knowledge changes weekly: an index refreshes incrementally, trained weights would "
        "need retraining every week",
        "daily": "the knowledge changes daily: only an index keeps up",
    },
    "style_change": {
        "none": "the base model's style suffices, so training has nothing to teach",
        "some": "some change of style or format: instructions and examples can do it, training does it "
        "reliably",
        "strong": "a strong change of style, format or behaviour is learned from examples; prompts get it "
        "only approximately",
    },
    "labeled_examples": {
        "<50": "fewer than 50 labeled examples: too few to train on, enough for few-shot prompts",
        "50-499": "50-499 labeled examples: enough for a small adapter, thin for a reliable one",
        "500-4999": "500-4,999 labeled examples: enough to fine-tune an adapter",
        ">=5000": "5,000 or more labeled examples: fine-tuning can use them fully",
    },
    "hallucination_tolerance": {
        "low": "unsupported statements must not happen: answers grounded in retrieved sources can be "
        "checked against them and abstained on",
        "medium": "unsupported statements are costly: grounding helps",
        "high": "occasional unsupported statements are acceptable",
    },
    "citations_needed": {
        "yes": "answers must cite sources, which retrieval gives and trained weights cannot",
        "no": "no citations are required",
    },
    "latency_budget_ms": {
        "none": "no latency constraint",
        "<500": "under 500 ms per answer: retrieved passages and few-shot examples cost prefill time that "
        "short prompts to a tuned model do not",
        "500-1999": "under 2 s per answer: the ~1,000 prompt tokens retrieval adds take a noticeable share",
        ">=2000": "2 s or more per answer leaves room for retrieval",
    },
    "budget": {
        "low": "a low budget favours what needs no training and no GPUs",
        "medium": "a medium budget covers adapters and an index, not pretraining",
        "high": "a high budget can pay for training",
    },
    "domain_shift": {
        "none": "the domain is familiar to the base model",
        "some": "the domain's vocabulary and conventions are partly new to the base model: fine-tuning "
        "adapts it",
        "extreme": "the domain is one the base model never saw: it must learn it in its weights (continued "
        "pretraining, or pretraining from scratch)",
    },
    "corpus_tokens": {
        "unknown": "the corpus size is unknown, so pretraining cannot be planned",
        "<1B": "under 1B tokens of text: too little to pretrain a useful model",
        "1B-10B": "1-10B tokens: enough for continued pretraining, only a small model from scratch",
        "10B-100B": "10-100B tokens: a model of 0.5-5B parameters could be pretrained",
        ">=100B": "100B tokens or more: enough to pretrain a 5B+ parameter model compute-optimally",
    },
}


def factor_buckets(factors: DecisionFactors) -> dict[str, str | None]:
    """The WEIGHTS row each factor selects (None: the factor does not count, with why in `advise`)."""
    examples = factors.labeled_examples
    latency = factors.latency_budget_ms
    corpus = factors.corpus_tokens
    return {
        "external_data": "yes" if factors.external_data else "no",
        "data_change": factors.data_change if factors.external_data else None,
        "style_change": factors.style_change,
        "labeled_examples": (
            "<50"
            if examples < 50
            else "50-499"
            if examples < 500
            else "500-4999"
            if examples < 5000
            else ">=5000"
        ),
        "hallucination_tolerance": factors.hallucination_tolerance if factors.external_data else None,
        "citations_needed": ("yes" if factors.citations_needed else "no") if factors.external_data else None,
        "latency_budget_ms": (
            "none"
            if latency is None
            else "<500"
            if latency < 500
            else "500-1999"
            if latency < 2000
            else ">=2000"
        ),
        "budget": factors.budget,
        "domain_shift": factors.domain_shift,
        "corpus_tokens": (
            "unknown"
            if corpus is None
            else "<1B"
            if corpus < 1e9
            else "1B-10B"
            if corpus < 1e10
            else "10B-100B"
            if corpus < 1e11
            else ">=100B"
        ),
    }


def contributions(factors: DecisionFactors) -> dict[str, dict[str, int]]:
    """Points per approach from each counted row, keyed `factor=bucket` (and `base`)."""
    rows = {"base": WEIGHTS["base"]["complexity"]}
    for name, bucket in factor_buckets(factors).items():
        if bucket is not None:
            rows[f"{name}={bucket}"] = WEIGHTS[name][bucket]
    return {row: dict(zip(APPROACHES, points, strict=True)) for row, points in rows.items()}


def score(factors: DecisionFactors) -> dict[str, int]:
    """The additive score of every approach."""
    totals: dict[str, int] = dict.fromkeys(APPROACHES, 0)
    for points in contributions(factors).values():
        for approach, value in points.items():
            totals[approach] += value
    return totals


def best(values: Mapping[str, float]) -> Approach:
    """The approach with the highest value among those in `values`; a tie goes to the simpler one
    (APPROACHES is ordered simplest first)."""
    return max((a for a in APPROACHES if a in values), key=lambda a: (values[a], -APPROACHES.index(a)))


# ---------------------------------------------------------------------------------------------------
# Expected costs


@dataclass(frozen=True)
class CostAssumptions:
    """What the cost estimates assume; every figure in `Advice.costs` follows from these."""

    #: Sustained training throughput: one H100 at ~40% of its 989 TFLOP/s dense BF16 peak.
    sustained_flops: float = 4.0e14
    gpu: str = "1× H100 at ~40% of its 989 TFLOP/s dense BF16 peak"
    usd_per_gpu_hour: float = 2.5
    #: Parameters of the model a fine-tune would adapt (a 7B-class open model).
    finetune_params: float = 7e9
    tokens_per_example: int = 512
    epochs: int = 3
    #: From-scratch size used when the corpus is too small (or unknown) to set one.
    scratch_params: float = 1e9
    #: Chinchilla compute-optimal tokens per parameter (Hoffmann et al. 2022).
    tokens_per_param: float = 20.0
    #: llmpilot's default chunk (800 characters) at ~4 characters per token.
    chunk_tokens: int = 200
    top_k: int = 5
    embedding_dim: int = 384
    text_bytes_per_token: float = 4.0
    #: e5-small on 2 CPU cores, measured: benchmarks/results/ingest_throughput.json (autorag-ko).
    embed_passages_per_s: float = 4.0
    few_shot_examples: int = 3


def _sig(value: float, digits: int = 3) -> float:
    """Estimates carry three significant figures, small ones included (0.00025, not 0.0003)."""
    return float(f"{value:.{digits}g}")


def _gpu(flops: float, a: CostAssumptions) -> dict[str, float]:
    hours = flops / a.sustained_flops / 3600
    return {"flops": flops, "gpu_hours": _sig(hours), "usd": _sig(hours * a.usd_per_gpu_hour)}


def examples_needed(factors: DecisionFactors) -> int:
    """Rule of thumb for a LoRA fine-tune: ~100 examples teach a format, a few hundred a style, ~1,000
    a strong style or behaviour, thousands a domain's conventions (the largest need applies)."""
    need = 100
    need = max(need, {"none": 100, "some": 300, "strong": 1_000}[factors.style_change])
    return max(need, {"none": 100, "some": 3_000, "extreme": 10_000}[factors.domain_shift])


def rag_costs(factors: DecisionFactors, a: CostAssumptions) -> dict[str, Any]:
    prompt_tokens = a.top_k * a.chunk_tokens
    costs: dict[str, Any] = {"extra_prompt_tokens_per_answer": prompt_tokens, "gpu_hours": 0.0, "usd": 0.0}
    if factors.corpus_tokens is None:
        costs["note"] = "give corpus_tokens to size the index"
        return costs
    chunks = math.ceil(factors.corpus_tokens / a.chunk_tokens)
    vectors_mb = chunks * a.embedding_dim * 4 / 1e6
    text_mb = factors.corpus_tokens * a.text_bytes_per_token / 1e6
    costs.update(
        chunks=chunks,
        vectors_mb=_sig(vectors_mb),
        # The BM25 index holds about as much as the text it indexes.
        index_mb=_sig(vectors_mb + 2 * text_mb),
        embedding_cpu_hours=_sig(chunks / a.embed_passages_per_s / 3600),
        refresh=f"data changes {factors.data_change}: re-ingest changes (incremental)",
    )
    return costs


def finetune_costs(factors: DecisionFactors, a: CostAssumptions) -> dict[str, Any]:
    need = examples_needed(factors)
    used = max(need, factors.labeled_examples)
    tokens = used * a.tokens_per_example * a.epochs
    costs: dict[str, Any] = {
        "params": a.finetune_params,
        "examples_needed": need,
        "examples_available": factors.labeled_examples,
        "examples_missing": max(0, need - factors.labeled_examples),
        "train_tokens": tokens,
        **_gpu(6 * a.finetune_params * tokens, a),
        "weights_gb_bf16": round(2 * a.finetune_params / 1e9, 1),
        "adapter": "LoRA: the base's weights stay frozen; memory ≈ bf16 weights + activations",
    }
    if factors.domain_shift == "extreme":
        # A new language or notation is learned from raw text first (continued pretraining), capped at
        # 20 tokens per parameter of the base: an upper bound (language adaptations of 7B models, e.g.
        # Swallow for Japanese, used on the order of 100B tokens).
        corpus = factors.corpus_tokens or int(a.tokens_per_param * a.finetune_params)
        cpt_tokens = min(corpus, int(a.tokens_per_param * a.finetune_params))
        cpt = _gpu(6 * a.finetune_params * cpt_tokens, a)
        costs["continued_pretraining"] = {"tokens": cpt_tokens, **cpt}
        costs["gpu_hours"] = _sig(costs["gpu_hours"] + cpt["gpu_hours"])
        costs["usd"] = _sig(costs["usd"] + cpt["usd"])
        costs["flops"] = costs["flops"] + cpt["flops"]
    return costs


def scratch_costs(factors: DecisionFactors, a: CostAssumptions) -> dict[str, Any]:
    corpus = factors.corpus_tokens
    # Size from the data when the corpus supports at least the default size compute-optimally.
    if corpus is not None and corpus >= a.tokens_per_param * a.scratch_params:
        params = corpus / a.tokens_per_param
        basis = "N = corpus_tokens / 20: compute-optimal for the data available"
    else:
        params = a.scratch_params
        basis = "a chosen size: the corpus is too small or unknown to set N"
    tokens = a.tokens_per_param * params
    return {
        "params": params,
        "train_tokens": tokens,
        "basis": basis,
        "corpus_tokens": corpus,
        "corpus_share_of_tokens_needed": None if corpus is None else _sig(min(1.0, corpus / tokens)),
        **_gpu(6 * params * tokens, a),
        "note": "one training run; tokenizer work, ablations, failed runs and instruction tuning "
        "usually multiply this several times",
    }


def estimate_costs(factors: DecisionFactors, a: CostAssumptions) -> dict[str, dict[str, Any]]:
    """Expected costs of every approach (the numbers are estimates from `a`, not measurements)."""
    few_shot = min(a.few_shot_examples, factors.labeled_examples) * a.tokens_per_example
    rag = rag_costs(factors, a)
    tune = finetune_costs(factors, a)
    hybrid = {
        **{k: v for k, v in tune.items() if k != "adapter"},
        **{k: v for k, v in rag.items() if k not in ("gpu_hours", "usd")},
    }
    return {
        "prompt": {
            "extra_prompt_tokens_per_answer": few_shot,
            "gpu_hours": 0.0,
            "usd": 0.0,
            "note": "instructions and few-shot examples; no training, no index",
        },
        "rag": rag,
        "finetune": tune,
        "hybrid": hybrid,
        "scratch": scratch_costs(factors, a),
    }


# ---------------------------------------------------------------------------------------------------
# The measured comparison (results.json of `llmpilot strategies`)


class _StrategyResult(BaseModel):
    model_config = ConfigDict(extra="allow")
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = Field(default_factory=dict)


class _Paired(BaseModel):
    model_config = ConfigDict(extra="allow")
    metric: str
    diff: float
    p_value: float = Field(ge=0.0, le=1.0)


class MeasuredComparison(BaseModel):
    """The fields of `llmpilot strategies`' results.json that the advisor reads (others are kept)."""

    model_config = ConfigDict(extra="allow")
    task: str | None = None
    dataset: str | None = None
    primary_metric: str
    strategies: dict[str, _StrategyResult]
    #: "a vs b" → diff = metric(a) − metric(b) on the same queries, with the paired test's p-value.
    paired: dict[str, _Paired] = Field(default_factory=dict)
    recommended: str | None = None


def parse_measured(raw: Mapping[str, Any], source: str) -> MeasuredComparison:
    try:
        return MeasuredComparison.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise DatasetError(
            f"{source}: not a strategies results file: {problems}; expected the results.json that "
            "`llmpilot strategies --out DIR` writes"
        ) from None


def results_file(path: Path) -> Path:
    """A strategies run's results.json: `path` is its output folder or the file itself."""
    return path / "results.json" if path.is_dir() else path


def load_measured(path: Path) -> dict[str, Any]:
    """results.json of a strategies run (`path`: its folder or the file). Validated, so a bad file fails
    here, naming the file, and not halfway through advising."""
    file = results_file(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(
            f"{file}: not found; --dataset takes the folder `llmpilot strategies --out DIR` wrote "
            "(holding results.json) or that results.json"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: cannot read the file: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{file}: line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{file}: expected a JSON object at the top level, got {type(raw).__name__}")
    parse_measured(raw, str(file))
    return raw


def _advantage(m: MeasuredComparison, winner: str, pick: str) -> tuple[bool, str]:
    """Whether `winner` beats `pick` significantly on the primary metric, and the evidence."""
    metric = m.primary_metric
    evidence: list[str] = []
    for key, sign in ((f"{winner} vs {pick}", 1.0), (f"{pick} vs {winner}", -1.0)):
        test = m.paired.get(key)
        if test is not None and test.metric == metric:
            diff = sign * test.diff
            evidence.append(f"paired test: {winner} − {pick} = {diff:+.4f} {metric}, p = {test.p_value:.4g}")
            if diff > 0 and test.p_value < ALPHA:
                return True, evidence[-1]
            break
    ci_w = m.strategies[winner].ci.get(metric)
    ci_p = m.strategies[pick].ci.get(metric)
    if ci_w is not None and ci_p is not None:
        overlap = ci_w[0] <= ci_p[1]
        evidence.append(
            f"95% CIs {winner} [{ci_w[0]:.4f}, {ci_w[1]:.4f}] and {pick} [{ci_p[0]:.4f}, {ci_p[1]:.4f}] "
            + ("overlap" if overlap else "do not overlap")
        )
        if not overlap:
            return True, evidence[-1]
    if not evidence:
        return False, f"no paired test or CIs on {metric} for {winner} and {pick}"
    return False, "; ".join(evidence)


def compare_measured(raw: Mapping[str, Any], pick: Approach, source: str) -> dict[str, Any]:
    """The `measured` field: what the comparison found and whether it overrides the heuristic `pick`."""
    m = parse_measured(raw, source)
    metric = m.primary_metric
    values: dict[str, float] = {
        name: result.metrics[metric]
        for name, result in m.strategies.items()
        if name in APPROACHES and metric in result.metrics
    }
    out: dict[str, Any] = {
        "source": source,
        "task": m.task,
        "dataset": m.dataset,
        "primary_metric": metric,
        "values": values,
        "ignored": sorted(set(m.strategies) - set(values)),
        "comparison_recommended": m.recommended,
        "heuristic": pick,
        "winner": None,
        "override": False,
        "significant": False,
    }
    if not values:
        out["reason"] = f"the measured comparison has no approach scored on {metric}: no override."
        return out
    winner = best(values)
    out["winner"] = winner
    if pick not in values:
        out["reason"] = (
            f"the measured comparison did not run {pick} (the heuristic's pick), so it cannot overrule it; "
            f"its best was {winner} ({metric} {values[winner]:.4f})."
        )
    elif winner == pick:
        out["reason"] = (
            f"the measured comparison agrees: {pick} scored best on {metric} ({values[pick]:.4f})."
        )
    else:
        significant, evidence = _advantage(m, winner, pick)
        out.update(significant=significant, override=significant, evidence=evidence)
        if significant:
            # The comparison's own recommendation (the simplest strategy not significantly worse than
            # its best) is what replaces the pick; the best itself only when there is none to follow.
            target = m.recommended if m.recommended in values else winner
            out["override_to"] = target
            follow = (
                f": {target}, the comparison's recommendation (the simplest strategy not significantly "
                f"worse than {winner})"
                if target != winner
                else f": {winner}"
            )
            out["reason"] = (
                f"measured on {m.dataset or 'the dataset'}, {winner} beat the heuristic's {pick} on {metric} "
                f"({values[winner]:.4f} vs {values[pick]:.4f}; {evidence}), so the measurement overrides "
                f"the heuristic{follow}."
            )
        else:
            out["reason"] = (
                f"measured, {winner} scored above {pick} on {metric} ({values[winner]:.4f} vs "
                f"{values[pick]:.4f}) but the measurement did not separate them ({evidence}); keeping the "
                f"heuristic's {pick}."
            )
    return out


# ---------------------------------------------------------------------------------------------------
# Advice


@dataclass(frozen=True)
class Advice:
    recommendation: Approach
    #: What the score table alone picks (differs from `recommendation` only after a measured override).
    heuristic: Approach
    reasons: list[str]
    scores: dict[str, float]
    breakdown: dict[str, dict[str, int]]
    costs: dict[str, dict[str, Any]]
    factors: DecisionFactors
    measured: dict[str, Any] | None
    assumptions: CostAssumptions = field(default_factory=CostAssumptions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recommendation": self.recommendation,
            "heuristic_recommendation": self.heuristic,
            "reasons": self.reasons,
            "scores": self.scores,
            "score_breakdown": self.breakdown,
            "costs": self.costs,
            "factors": self.factors.model_dump(mode="json"),
            "measured": self.measured,
            "assumptions": {
                **asdict(self.assumptions),
                "training_flops": "6 × params × tokens (Kaplan et al. 2020)",
                "compute_optimal_tokens": "20 × params (Hoffmann et al. 2022, Chinchilla)",
            },
        }


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:,}" if isinstance(value, int) else f"{value}"


def _reasons(factors: DecisionFactors, scores: dict[str, int], pick: Approach) -> list[str]:
    """The summary, then each row that speaks for `pick` or separates it from the runner-up: rows for it
    first (largest lead over the runner-up first), rows against it last."""
    runner = best({a: v for a, v in scores.items() if a != pick})
    ranked = ", ".join(f"{a} {scores[a]}" for a in sorted(APPROACHES, key=lambda a: -scores[a]))
    reasons = [f"Scores ({ranked}): {pick} leads {runner} by {scores[pick] - scores[runner]}."]
    rows = []
    i, j = APPROACHES.index(pick), APPROACHES.index(runner)
    for name, bucket in factor_buckets(factors).items():
        if bucket is None:
            continue
        points = WEIGHTS[name][bucket]
        gap = points[i] - points[j]
        if points[i] > 0 or gap:
            sentence = (
                f"{name} = {_shown(getattr(factors, name))}: {WHY[name][bucket]} "
                f"({pick} {points[i]:+d}, {runner} {points[j]:+d})."
            )
            rows.append((gap, points[i], sentence if gap >= 0 else "Against: " + sentence))
    reasons += [text for *_, text in sorted(rows, key=lambda r: (-r[0], -r[1]))]
    if not factors.external_data:
        reasons.append(
            "data_change, hallucination_tolerance and citations_needed are not counted: without external "
            "data there is nothing to refresh or retrieve, and answers rest on the input every approach sees."
        )
    return reasons


def advise(
    factors: DecisionFactors,
    *,
    measured: Mapping[str, Any] | None = None,
    measured_source: str = "measured comparison",
    assumptions: CostAssumptions | None = None,
) -> Advice:
    """Recommend an approach for `factors`; `measured` is a strategies results.json (as a dict), which
    overrides the heuristic where it significantly disagrees."""
    a = assumptions or CostAssumptions()
    scores = score(factors)
    pick = best(scores)
    reasons = _reasons(factors, scores, pick)
    costs = estimate_costs(factors, a)
    recommendation = pick
    if pick in ("finetune", "hybrid") and costs[pick]["examples_missing"]:
        reasons.append(
            f"labeled_examples = {factors.labeled_examples}: {pick} needs about {examples_needed(factors)}; "
            f"collect {costs[pick]['examples_missing']} more before training."
        )
    measured_out = None
    if measured is not None:
        measured_out = compare_measured(measured, pick, measured_source)
        reasons.append("Measured: " + measured_out["reason"])
        if measured_out["override"]:
            recommendation = measured_out["override_to"]
    return Advice(
        recommendation=recommendation,
        heuristic=pick,
        reasons=reasons,
        scores={k: float(v) for k, v in scores.items()},
        breakdown=contributions(factors),
        costs=costs,
        factors=factors,
        measured=measured_out,
        assumptions=a,
    )


# ---------------------------------------------------------------------------------------------------
# Answers files and merging


def allowed_values(name: str) -> str:
    """The values a factor accepts, for error messages and prompts."""
    annotation = DecisionFactors.model_fields[name].annotation
    choices = get_args(annotation)
    if choices and all(isinstance(c, str) for c in choices):
        return "one of " + ", ".join(choices)
    if annotation is bool:
        return "true or false"
    if name == "latency_budget_ms":
        return "a positive number of milliseconds, or none"
    if name == "corpus_tokens":
        return "a number of tokens (e.g. 5000000, 5M, 200B), or none"
    return "a whole number ≥ 0"


def _key_lines(text: str) -> dict[str, int]:
    """Line of each top-level key, so an error can point at it."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def factors_from(
    values: Mapping[str, Any], source: str, lines: Mapping[str, int] | None = None
) -> DecisionFactors:
    """Validate factor values; an unknown key or bad value raises ConfigError naming `source`, the
    line (when known), the key and what is allowed."""
    lines = lines or {}
    for key in values:
        if key not in FACTOR_NAMES:
            where = f"{source}, line {lines[key]}" if key in lines else source
            raise ConfigError(
                f"{where}: unknown key {key!r}; the decision factors are: {', '.join(FACTOR_NAMES)}"
            )
    try:
        return DecisionFactors.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "(top level)"
        where = f"{source}, line {lines[key]}" if key in lines else source
        raise ConfigError(
            f"{where}: {key}: {values.get(key)!r} is not allowed ({err['msg']}); {key} takes "
            f"{allowed_values(key)}"
        ) from None


def load_answers(path: Path) -> dict[str, Any]:
    """An answers file: a YAML mapping of factor names to values. Returns the values (validated), so the
    caller can merge them with use-case defaults and flags."""
    raw = read_yaml_mapping(path, "answers file not found; it is YAML with the decision factors as keys")
    factors_from(
        raw, str(path), _key_lines(path.read_text(encoding="utf-8"))
    )  # validates each given key and value
    return raw


def use_case_defaults(use_case: str) -> dict[str, Any]:
    try:
        return dict(USE_CASE_DEFAULTS[use_case])
    except KeyError:
        raise ConfigError(
            f"unknown use case {use_case!r}; known: {', '.join(USE_CASE_DEFAULTS)} (or give --answers FILE)"
        ) from None
