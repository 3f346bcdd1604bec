"""`Guardrails`: the configured input, retrieved-passage and output rails of one pipeline.

Every rail that runs returns a `RailDecision` (allow included), so the trace shows what was checked
as well as what was caught. Rails run cheapest first and a block stops the stage: a question over
the length limit is not scanned further, an answer withheld for PII is not checked for grounding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from llmpilot.answering import split_sentences
from llmpilot.config import GuardrailsConfig
from llmpilot.errors import ConfigError
from llmpilot.guardrails import classifier
from llmpilot.guardrails.attacks import AttackScorer
from llmpilot.guardrails.decisions import ACTIONS, InputVerdict, Outcome, RailDecision, Timer, reason
from llmpilot.guardrails.grounding import check_grounding
from llmpilot.guardrails.injection import DOCUMENT_RULES, INPUT_RULES, score_rules
from llmpilot.guardrails.pii import KINDS as PII_KINDS
from llmpilot.guardrails.pii import find_pii, kind_counts, redact_spans
from llmpilot.guardrails.profanity import find_profanity, mask
from llmpilot.guardrails.topics import TopicMatcher
from llmpilot.types import Answer, Hit, Lang

Embed = Callable[[Sequence[str]], np.ndarray]

#: What replaces an instruction-like sentence in the passage the model sees.
NEUTRALISED = "[…]"
_PASSAGE_RULES = INPUT_RULES + DOCUMENT_RULES


def _lang(lang: str) -> Lang:
    return "ko" if lang == "ko" else "en"


def _check_kinds(field: str, kinds: Sequence[str]) -> None:
    unknown = sorted(set(kinds) - set(PII_KINDS))
    if unknown:
        raise ConfigError(
            f"guardrails.{field}: unknown PII kind(s) {', '.join(unknown)}; use any of {', '.join(PII_KINDS)}"
        )


class Guardrails:
    def __init__(self, cfg: GuardrailsConfig, embed: Embed | None = None):
        _check_kinds("input.pii_kinds", cfg.input.pii_kinds)
        _check_kinds("output.pii_kinds", cfg.output.pii_kinds)
        self.cfg = cfg
        self.embed = embed
        self._scorer = AttackScorer(embed) if embed is not None else None
        self._allow = TopicMatcher(cfg.input.allow_topics)
        self._deny = TopicMatcher(cfg.input.deny_topics)

    def warm(self) -> None:
        """Load what the configured rails need now (profanity lists, the embedded attack bank, the
        classifier) rather than on the first question."""
        find_profanity("warm up")
        if self._scorer is not None and self.cfg.input.injection != "off":
            self._scorer.warm()
        if self.cfg.input.classifier == "nanoguard" and self.cfg.input.injection != "off":
            classifier.warm()

    # --- input ---------------------------------------------------------------------------------

    def check_input(self, question: str, lang: Lang, vector: np.ndarray | None = None) -> InputVerdict:
        """Run the input rails on `question`; `vector` is its query embedding when the caller has it
        (retrieval computes it anyway), which saves the injection rail an embedding."""
        if not self.cfg.enabled:
            return InputVerdict(question, [], False, "")
        lang = _lang(lang)
        rails = self.cfg.input
        decisions: list[RailDecision] = []
        text = question

        timer = Timer()
        if rails.max_chars and len(question) > rails.max_chars:
            why = reason("too_long", lang, n=len(question), limit=rails.max_chars)
            decisions.append(
                RailDecision("input", "length", "block", None, why, timer.ms(), {"chars": len(question)})
            )
            return InputVerdict(question, decisions, True, why)
        decisions.append(
            RailDecision(
                "input", "length", "allow", None, reason("allow", lang), timer.ms(), {"chars": len(question)}
            )
        )

        if rails.pii != "off":
            timer = Timer()
            spans = find_pii(question, rails.pii_kinds)
            if spans:
                counts = kind_counts(spans)
                kinds = ", ".join(sorted(counts))
                outcome: Outcome = (
                    "block" if rails.pii == "block" else "warn" if rails.pii == "warn" else "redact"
                )
                if outcome == "redact":
                    text = redact_spans(question, spans)
                why = reason(f"pii_{outcome}", lang, kinds=kinds)
                decisions.append(
                    RailDecision("input", "pii", outcome, None, why, timer.ms(), {"counts": counts})
                )
            else:
                decisions.append(
                    RailDecision("input", "pii", "allow", None, reason("allow", lang), timer.ms(), {})
                )

        if self._allow.terms or self._deny.terms:
            decisions.append(self._topic(question, lang))

        if rails.injection != "off":
            decisions.append(self._injection(question, lang, vector))

        blocking = [d for d in decisions if d.outcome == "block"]
        return InputVerdict(text, decisions, bool(blocking), blocking[0].reason if blocking else "")

    def _topic(self, question: str, lang: Lang) -> RailDecision:
        timer = Timer()
        denied = self._deny.mentioned(question)
        if denied:
            why = reason("topic_denied", lang, topic=", ".join(denied))
            return RailDecision("input", "topic", "block", None, why, timer.ms(), {"denied": denied})
        if self._allow.terms and not self._allow.mentioned(question):
            why = reason("topic_not_allowed", lang, topics=", ".join(self._allow.terms))
            return RailDecision("input", "topic", "block", None, why, timer.ms(), {"allowed": []})
        return RailDecision("input", "topic", "allow", None, reason("allow", lang), timer.ms(), {})

    def injection_scores(
        self, question: str, lang: Lang, vector: np.ndarray | None = None
    ) -> tuple[dict[str, float], tuple[str, ...]]:
        """Each injection signal's score (0-1) and the matching rule ids: "rules" always, "model" (the
        embedding scorer) when an embedder was given, "classifier" (nanoguard) when configured and
        the question is not Korean: it is English-trained and measured to flag ordinary Korean
        questions (benchmarks/results/guardrails.json, "nanoguard")."""
        rules = score_rules(question, INPUT_RULES)
        scores = {"rules": rules.score}
        if self._scorer is not None and self._scorer.available:
            vec = vector if vector is not None else self._scorer.embed([question])
            scores["model"] = float(self._scorer.scores(np.atleast_2d(vec))[0])
        if self.cfg.input.classifier == "nanoguard" and lang != "ko":
            scores["classifier"] = classifier.nanoguard_scores([question])[0]
        return scores, rules.rules

    def _injection(self, question: str, lang: Lang, vector: np.ndarray | None) -> RailDecision:
        timer = Timer()
        scores, rule_ids = self.injection_scores(question, lang, vector)
        score = max(scores.values())
        details: dict[str, object] = {
            "rules": list(rule_ids),
            "scores": {k: round(v, 4) for k, v in scores.items()},
        }
        if score < self.cfg.input.injection_threshold:
            return RailDecision(
                "input", "injection", "allow", score, reason("allow", lang), timer.ms(), details
            )
        if self.cfg.input.injection == "block":
            return RailDecision(
                "input", "injection", "block", score, reason("injection", lang), timer.ms(), details
            )
        return RailDecision(
            "input", "injection", "warn", score, reason("injection_warn", lang), timer.ms(), details
        )

    # --- retrieved passages ----------------------------------------------------------------------

    def check_documents(self, hits: Sequence[Hit], lang: Lang) -> tuple[list[Hit], list[RailDecision]]:
        """The hits to build the prompt from: instruction-like sentences cut ("neutralise") or their
        passages left out ("drop"). The caller keeps the original hits for what the user sees and
        for citation checks; the neutralised copies break `Chunk.text == document[start:end]` on
        purpose and must not be verified against the store."""
        action = self.cfg.documents.injection
        if not self.cfg.enabled or action == "off":
            return list(hits), []
        lang = _lang(lang)
        timer = Timer()
        threshold = self.cfg.input.injection_threshold
        kept: list[Hit] = []
        flagged_chunks: list[str] = []
        rule_ids: set[str] = set()
        n_sentences = 0
        best = 0.0
        for hit in hits:
            text = hit.chunk.text
            cut: list[str] = []
            for sentence in split_sentences(text):
                found = score_rules(sentence, _PASSAGE_RULES)
                best = max(best, found.score)
                if found.score >= threshold:
                    cut.append(sentence)
                    rule_ids.update(found.rules)
            if not cut:
                kept.append(hit)
                continue
            flagged_chunks.append(hit.chunk.id)
            n_sentences += len(cut)
            if action == "drop":
                continue
            if action == "neutralise":
                for sentence in cut:
                    text = text.replace(sentence, NEUTRALISED, 1)
                chunk = dataclasses.replace(hit.chunk, text=text)
                kept.append(dataclasses.replace(hit, chunk=chunk))
            else:
                kept.append(hit)
        details = {
            "action": action,
            "passages": flagged_chunks,
            "sentences": n_sentences,
            "rules": sorted(rule_ids),
        }
        if not flagged_chunks:
            decision = RailDecision(
                "documents", "indirect_injection", "allow", best, reason("allow", lang), timer.ms(), details
            )
            return kept, [decision]
        outcome: Outcome = {"neutralise": "redact", "drop": "block", "warn": "warn"}[action]  # type: ignore[assignment]
        why = reason(
            "indirect_injection",
            lang,
            n=len(flagged_chunks),
            sentences=n_sentences,
            action=ACTIONS[action][lang],
        )
        return kept, [
            RailDecision("documents", "indirect_injection", outcome, best, why, timer.ms(), details)
        ]

    # --- output ----------------------------------------------------------------------------------

    def check_output(self, answer: Answer, hits: Sequence[Hit]) -> tuple[Answer, list[RailDecision]]:
        """PII leak, profanity and grounding rails on a finished answer. A block or abstain returns the
        answer with its text replaced by a notice in the answer's language (`abstained=True`)."""
        if not self.cfg.enabled:
            return answer, []
        rails = self.cfg.output
        lang = _lang(answer.lang)
        decisions: list[RailDecision] = []
        details: dict[str, Any]

        if rails.pii != "off":
            timer = Timer()
            spans = find_pii(answer.text, rails.pii_kinds)
            hidden = find_pii(answer.unsupported_text, rails.pii_kinds) if answer.unsupported_text else []
            if spans or hidden:
                counts = kind_counts([*spans, *hidden])
                kinds = ", ".join(sorted(counts))
                details = {"counts": counts}
                if rails.pii == "block":
                    why = reason("pii_leak_block", lang, kinds=kinds)
                    decisions.append(RailDecision("output", "pii", "block", None, why, timer.ms(), details))
                    return self._withheld(answer, why), decisions
                if rails.pii == "redact":
                    answer = dataclasses.replace(
                        answer,
                        text=redact_spans(answer.text, spans),
                        unsupported_text=redact_spans(answer.unsupported_text, hidden),
                    )
                outcome: Outcome = "redact" if rails.pii == "redact" else "warn"
                why = reason(f"pii_{outcome}", lang, kinds=kinds)
                decisions.append(RailDecision("output", "pii", outcome, None, why, timer.ms(), details))
            else:
                decisions.append(
                    RailDecision("output", "pii", "allow", None, reason("allow", lang), timer.ms(), {})
                )

        if rails.profanity != "off":
            timer = Timer()
            matches = find_profanity(answer.text)
            hidden_matches = find_profanity(answer.unsupported_text) if answer.unsupported_text else []
            n = len(matches) + len(hidden_matches)
            details = {"count": n}
            if not n:
                decisions.append(
                    RailDecision(
                        "output", "profanity", "allow", None, reason("allow", lang), timer.ms(), details
                    )
                )
            elif rails.profanity == "block":
                why = reason("profanity_block", lang)
                decisions.append(RailDecision("output", "profanity", "block", None, why, timer.ms(), details))
                return self._withheld(answer, why), decisions
            else:
                if rails.profanity == "redact":
                    answer = dataclasses.replace(
                        answer,
                        text=mask(answer.text, matches),
                        unsupported_text=mask(answer.unsupported_text, hidden_matches),
                    )
                key = "profanity_redact" if rails.profanity == "redact" else "profanity_warn"
                outcome = "redact" if rails.profanity == "redact" else "warn"
                decisions.append(
                    RailDecision(
                        "output", "profanity", outcome, None, reason(key, lang, n=n), timer.ms(), details
                    )
                )

        if rails.grounding != "off" and not answer.abstained:
            timer = Timer()
            grounding = check_grounding(answer, hits, self.embed, rails.grounding_min_cosine)
            n = len(grounding.unsupported)
            judged_share = answer.support
            details = {
                "unsupported": n,
                "rescued_by_embedding": grounding.rescued,
                "lexical_support": judged_share,
            }
            if not n:
                decisions.append(
                    RailDecision(
                        "output",
                        "grounding",
                        "allow",
                        judged_share,
                        reason("allow", lang),
                        timer.ms(),
                        details,
                    )
                )
            elif rails.grounding == "abstain":
                why = reason("grounding_abstain", lang, n=n)
                decisions.append(
                    RailDecision("output", "grounding", "abstain", judged_share, why, timer.ms(), details)
                )
                abstained = dataclasses.replace(
                    answer, text=why, abstained=True, reason=why, unsupported_text=answer.text, citations=[]
                )
                return abstained, decisions
            else:
                why = reason("grounding_flag", lang, n=n)
                decisions.append(
                    RailDecision("output", "grounding", "warn", judged_share, why, timer.ms(), details)
                )
        return answer, decisions

    @staticmethod
    def _withheld(answer: Answer, why: str) -> Answer:
        """The answer replaced by a notice (`blocked`: a rail refused it); nothing of the withheld
        text stays on it."""
        return dataclasses.replace(
            answer, text=why, abstained=True, blocked=True, reason=why, unsupported_text="", citations=[]
        )
