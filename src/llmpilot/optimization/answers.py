"""Answer quality inside optimization trials.

A trial whose search varies the generator or the prompt (or whose primary metric is an answer
metric) generates an answer per query from the trial's own retrieved sources, with the trial's
generator and template, and scores it against the dataset's reference answers. Generators and
templates are loaded once per run; an answer is memoized by (generator settings, exact messages),
so trials that differ only in retrieval settings which leave the top-k sources unchanged do not
generate twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llmpilot import factory
from llmpilot.answering import STRICT_TEMPLATE, Responder, TextLookup, Tokenize, question_language
from llmpilot.config import GeneratorConfig, PipelineConfig, stable_hash
from llmpilot.errors import ConfigError
from llmpilot.evaluation.metric_names import SENTENCE_METRICS
from llmpilot.generation.prompting import (
    PromptTemplate,
    builtin_template,
    load_template,
    messages_for_generator,
)
from llmpilot.pipeline import cut_prompt_echo, retrieval_confidence
from llmpilot.project import resolve_generator_paths
from llmpilot.protocols import Generator, SourceAnswerer
from llmpilot.types import Hit

#: Answer metrics a trial can report (all 0-1): those with one value per answer. The default set:
#: cheap, Korean-aware ones plus one embedding-based metric.
ANSWER_METRICS = SENTENCE_METRICS
DEFAULT_ANSWER_METRICS = ("rougeL", "chrf", "bertscore_f1")
#: Settings that change what a generator says (the timeout does not).
_NON_SEMANTIC = {"timeout_s", "n_threads"}


def is_answer_metric(name: str) -> bool:
    return name in ANSWER_METRICS


def check_answer_metrics(names: Sequence[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in ANSWER_METRICS]
    if unknown:
        raise ConfigError(
            f"unknown answer metric(s) {', '.join(unknown)}; use any of {', '.join(ANSWER_METRICS)}"
        )
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class GeneratedAnswer:
    #: What a user would read: the generator's text after the answer policy (`Responder.judge`).
    text: str
    seconds: float
    #: Whether this call reused an answer generated earlier in the run for identical messages.
    reused: bool
    #: The policy abstained (weak retrieval support or an empty answer); `text` is the notice.
    abstained: bool = False


class AnswerGenerator:
    """Answers for trials: one loaded generator per generator config, memoized answers."""

    def __init__(self, project_root: Path, texts: TextLookup) -> None:
        self.project_root = project_root
        #: Stored document texts by id: the policy verifies citations against them.
        self._texts = texts
        self._generators: dict[str, Generator] = {}
        self._templates: dict[str, PromptTemplate] = {}
        self._memo: dict[str, tuple[str, float]] = {}
        self._tokenize: Tokenize | None = None
        self.generated = 0

    def generator(self, cfg: GeneratorConfig) -> Generator:
        key = cfg.model_dump_json()
        if key not in self._generators:
            # A space is not a project: its relative model paths resolve against the study folder,
            # with the rule projects use.
            self._generators[key] = factory.generator(resolve_generator_paths(cfg, self.project_root))
        return self._generators[key]

    def template(self, spec: str) -> PromptTemplate:
        if spec not in self._templates:
            self._templates[spec] = load_template(spec, self.project_root)
        return self._templates[spec]

    def answer(self, cfg: PipelineConfig, question: str, hits: Sequence[Hit]) -> GeneratedAnswer:
        """The answer a user would get from this trial's config: through the same policy as
        `llmpilot ask` and the server (abstention, citation verification), so scores measure it."""
        policy = Responder.for_scoring(cfg.answer, self._texts, self.tokenize)
        lang = question_language(question)
        reason = policy.abstain_reason(hits, retrieval_confidence(hits), lang, question=question)
        if reason:  # no generation: the reader sees the abstention notice
            shown = policy.judge(question, hits, None, lang=lang, abstain_reason=reason)
            return GeneratedAnswer(shown.text, 0.0, reused=False, abstained=True)
        generator = self.generator(cfg.generator)
        template = self.template(cfg.prompt.template)
        raw, used, seconds, reused = self._generate(cfg, generator, template, question, hits)

        def strict() -> tuple[str, list[Hit]]:
            """The policy's one strict retry (answering.Responder.judge), as a user would get it."""
            nonlocal seconds, reused
            text, seen, retry_seconds, retry_reused = self._generate(
                cfg, generator, builtin_template(STRICT_TEMPLATE), question, hits
            )
            seconds += retry_seconds
            reused = reused and retry_reused
            return text, seen

        # A source-quoting answerer would write the same again: nothing to retry.
        retry = None if isinstance(generator, SourceAnswerer) else strict
        answer = policy.judge(question, used, raw, lang=lang, retry=retry)
        return GeneratedAnswer(answer.text, seconds, reused=reused, abstained=answer.abstained)

    def _generate(
        self,
        cfg: PipelineConfig,
        generator: Generator,
        template: PromptTemplate,
        question: str,
        hits: Sequence[Hit],
    ) -> tuple[str, list[Hit], float, bool]:
        """The generator's raw text for this prompt (memoized: trials that share a generator and
        its prompt share the answer), the sources it saw, seconds, and whether it was reused."""
        gen_cfg = cfg.generator
        messages, used = messages_for_generator(
            generator, template, question, hits, cfg.prompt.max_context_chars, gen_cfg.max_tokens
        )
        semantic = gen_cfg.model_dump(mode="json", exclude=_NON_SEMANTIC)
        key = stable_hash({"generator": semantic, "messages": messages})
        if key in self._memo:
            raw, seconds = self._memo[key]
            return raw, used, seconds, True
        t0 = time.perf_counter()
        if isinstance(generator, SourceAnswerer):  # the extractive answerer reads sources, not a prompt
            raw = generator.answer_sources(question, used)
        else:
            text = generator.generate(
                messages, max_tokens=gen_cfg.max_tokens, temperature=gen_cfg.temperature
            )
            raw = cut_prompt_echo(text)
        seconds = time.perf_counter() - t0
        self._memo[key] = (raw, seconds)
        self.generated += 1
        return raw, used, seconds, False

    @property
    def tokenize(self) -> Tokenize:
        if self._tokenize is None:
            self._tokenize = factory.tokenizer("auto")
        return self._tokenize
