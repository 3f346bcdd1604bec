"""The data-quality report that runs before a fine-tune: noisy rows degrade it, silently.

A fine-tune learns whatever the rows say, including their faults: a duplicated row weighs twice, an
empty answer teaches silence, mojibake teaches mojibake, a few rows in another language teach the
model to switch language, a huge row dominates the loss (or is cut at the sequence length), and one
question with two answers teaches a hedge between them. Each check here names the rows, so a user can
fix the file before spending the training time. The report advises; it does not drop rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from llmpilot.finetune.data import TrainingExample
from llmpilot.transforms.language import KOREAN_SHARE, MIN_LETTERS, UNDETERMINED, detect_language

#: Control characters other than tab, newline and carriage return: they never belong in chat text
#: and usually mean binary data or a broken export.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Runs of characters that a cp1252/latin-1 decoder produces. UTF-8 decoded that way (the classic
#: mojibake: "Ã©" for "é", "ì•ˆë…•" for "안녕") turns every non-ASCII character into such a run.
_CP1252_RUN = re.compile(
    "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
    "\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]{2,}"
)
#: Hangul syllables and jamo, as transforms.language counts them.
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
#: Texts shorter than this (non-space characters) are not judged on their share of letters: "42",
#: "3.14" or "N/A" are fine short answers.
MIN_CHARS_FOR_LETTER_SHARE = 24
#: Below this share of letters among non-space characters a text is mostly digits, symbols or
#: punctuation: binary residue, a broken table, an encoding accident. Prose in any script is over
#: 0.7; code and formulas with words stay above 0.3.
MIN_LETTER_SHARE = 0.25
#: Outliers need a distribution to be outliers of: with fewer rows the quartiles mean little.
MIN_ROWS_FOR_OUTLIERS = 10
#: Tukey's far-out fence: Q3 + 3 * IQR marks the clearly extreme, not just the long tail.
OUTLIER_IQR = 3.0
#: ... and an outlier is also at least this many times the median length: when most rows are the
#: same length (IQR near 0) the fence alone would flag an answer a few characters longer.
OUTLIER_MIN_RATIO = 2.0
#: A language with at most this share of the rows whose language is known is a stray minority
#: (a warning): too few rows to teach it, enough to make the model switch to it. Above it the set is
#: deliberately mixed, which the languages line shows without a warning.
MINORITY_SHARE = 0.2
#: langdetect guesses wildly on short text (Catalan for "Yes, you can cancel anytime."): a
#: language other than Korean (Hangul-based, reliable) and English is believed only for rows with
#: at least this many letters; shorter ones count as undetermined.
OTHER_MIN_LETTERS = 80
#: Sources quoted as examples in one warning; the full lists are in the report.
EXAMPLES_QUOTED = 3


@dataclass(frozen=True)
class Flag:
    """A row (its source) and what is wrong with it."""

    source: str
    why: str


@dataclass(frozen=True)
class LengthStats:
    median: float
    p95: float
    max: int


@dataclass
class QualityReport:
    rows: int
    #: Groups (2+) of sources with the same prompt and answer (after case/space normalization).
    duplicates: list[list[str]] = field(default_factory=list)
    #: Rows with no letter or digit in the answer or in the user turns.
    empty: list[str] = field(default_factory=list)
    garbled: list[Flag] = field(default_factory=list)
    #: Rows by language: "en", "ko", "other", or "und" (too short to tell).
    languages: Counter[str] = field(default_factory=Counter)
    #: Rows in a stray minority language, and rows whose answer is not in the question's language.
    off_language: list[Flag] = field(default_factory=list)
    #: "prompt_chars", "prompt_tokens", "answer_chars", "answer_tokens" (whitespace tokens).
    lengths: dict[str, LengthStats] = field(default_factory=dict)
    #: Prompts or answers beyond the far-out fence, or empty.
    outliers: list[Flag] = field(default_factory=list)
    #: Groups of sources with the same (normalized) prompt and different answers.
    contradictions: list[list[str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing to look at before training."""
        return not self.warnings

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = dict(sorted(self.languages.items()))
        data["ok"] = self.ok
        return data


# --- row checks --------------------------------------------------------------------------------


def _mojibake(text: str) -> str | None:
    """The first run that decodes as UTF-8 once turned back into cp1252/latin-1 bytes ("Ã©" -> "é")."""
    for match in _CP1252_RUN.finditer(text):
        run = match.group(0)
        raw = bytes(ord(c) if ord(c) < 0x100 else c.encode("cp1252")[0] for c in run)
        for start in range(len(raw) - 1):
            lead = raw[start]
            size = (
                2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else 4 if 0xF0 <= lead <= 0xF4 else 0
            )
            if size and start + size <= len(raw):
                try:
                    raw[start : start + size].decode("utf-8")
                except UnicodeDecodeError:
                    continue
                return run[start : start + size]
    return None


def garbled_reason(text: str) -> str | None:
    """Why `text` looks garbled, or None."""
    if "\ufffd" in text:
        return "U+FFFD replacement characters: the text was decoded with the wrong encoding"
    bad = _mojibake(text)
    if bad is not None:
        return f"mojibake {bad!r}: UTF-8 read as cp1252/latin-1"
    control = _CONTROL.search(text)
    if control is not None:
        return f"control character U+{ord(control.group(0)):04X}: binary data or a broken export"
    visible = [c for c in text if not c.isspace()]
    if len(visible) >= MIN_CHARS_FOR_LETTER_SHARE:
        share = sum(c.isalpha() for c in visible) / len(visible)
        if share < MIN_LETTER_SHARE:
            return f"only {share:.0%} letters: mostly digits, symbols or punctuation"
    return None


def _norm(text: str) -> str:
    """Case, width, spacing and final punctuation do not make two texts different."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).rstrip(" .?!。？！")


def _prompt_text(example: TrainingExample) -> str:
    return "\n".join(m["content"] for m in example.messages[:-1])


def _question(example: TrainingExample) -> str:
    return next((m["content"] for m in reversed(example.messages[:-1]) if m["role"] == "user"), "")


def _has_content(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _language(text: str) -> str:
    lang = detect_language(text)
    if lang in ("en", "ko", UNDETERMINED):
        return lang
    return "other" if sum(c.isalpha() for c in text) >= OTHER_MIN_LETTERS else UNDETERMINED


LANGUAGE_NAMES = {"en": "English", "ko": "Korean", "other": "another language"}


# --- report ------------------------------------------------------------------------------------


def _stats(values: list[int]) -> LengthStats:
    if not values:
        return LengthStats(0.0, 0.0, 0)
    arr = np.asarray(values, dtype=float)
    return LengthStats(float(np.median(arr)), float(np.percentile(arr, 95)), int(arr.max()))


def _outliers(sources: list[str], texts: list[str], what: str) -> list[Flag]:
    flags = [Flag(src, f"empty {what}") for src, t in zip(sources, texts, strict=True) if not _has_content(t)]
    if len(texts) < MIN_ROWS_FOR_OUTLIERS:
        return flags
    lengths = [len(t) for t in texts]
    q1, median, q3 = np.percentile(np.asarray(lengths, dtype=float), [25, 50, 75])
    fence = max(q3 + OUTLIER_IQR * (q3 - q1), OUTLIER_MIN_RATIO * median)
    flags += [
        Flag(src, f"{what} of {n:,} characters (median {median:,.0f}, fence {fence:,.0f})")
        for src, n in zip(sources, lengths, strict=True)
        if n > fence
    ]
    return flags


def _groups(keys: list[tuple[str, ...]], sources: list[str]) -> dict[tuple[str, ...], list[str]]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for key, source in zip(keys, sources, strict=True):
        groups.setdefault(key, []).append(source)
    return groups


def _quote(sources: Sequence[str]) -> str:
    shown = ", ".join(sources[:EXAMPLES_QUOTED])
    return shown + (f" and {len(sources) - EXAMPLES_QUOTED} more" if len(sources) > EXAMPLES_QUOTED else "")


def _pct(n: int, total: int) -> str:
    return f"{n / total:.0%}" if total else "0%"


def _korean(text: str) -> bool | None:
    """Whether `text` is Korean, by detect_language's Hangul rule; None when it has too few letters
    to say (a number, a code name). Cheap: no langdetect call."""
    letters = sum(c.isalpha() for c in text)
    if letters == 0:
        return None
    hangul = len(_HANGUL.findall(text))
    if hangul >= 2 and hangul / letters >= KOREAN_SHARE:
        return True
    return False if letters >= MIN_LETTERS else None


def _language_checks(examples: Sequence[TrainingExample], report: QualityReport) -> None:
    """Row languages (question and answer read together: more text, steadier detection), stray
    minority languages, and answers not in the question's language (Korean or not, which the Hangul
    rule tells reliably even for short text)."""
    cache: dict[str, str] = {}
    langs: list[str] = []
    for e in examples:
        question = _question(e)
        text = f"{question}\n{e.answer}"
        if text not in cache:
            cache[text] = _language(text)
        langs.append(cache[text])
        q_ko, a_ko = _korean(question), _korean(e.answer)
        if q_ko is not None and a_ko is not None and q_ko != a_ko:
            said = ("Korean", "not Korean") if q_ko else ("not Korean", "Korean")
            report.off_language.append(Flag(e.source, f"question {said[0]}, answer {said[1]}"))
    report.languages = Counter(langs)
    known = {k: v for k, v in report.languages.items() if k != UNDETERMINED}
    if len(known) < 2:
        return
    main = max(known, key=lambda k: known[k])
    total = sum(known.values())
    mixed = {f.source for f in report.off_language}  # flagged once, as mixed
    for other, count in known.items():
        if other != main and count / total <= MINORITY_SHARE:
            report.off_language += [
                Flag(e.source, f"{LANGUAGE_NAMES[other]} in a mostly {LANGUAGE_NAMES[main]} set")
                for e, row_lang in zip(examples, langs, strict=True)
                if row_lang == other and e.source not in mixed
            ]


def quality_report(examples: Sequence[TrainingExample]) -> QualityReport:
    """Check every row; the warnings say what was found, how much, and why it matters."""
    report = QualityReport(rows=len(examples))
    sources = [e.source for e in examples]
    prompts = [_prompt_text(e) for e in examples]
    answers = [e.answer for e in examples]

    report.empty = [
        e.source
        for e in examples
        if not _has_content(e.answer)
        or not any(_has_content(m["content"]) for m in e.messages[:-1] if m["role"] == "user")
    ]
    for e in examples:
        why = next((r for r in map(garbled_reason, (m["content"] for m in e.messages)) if r), None)
        if why is not None:
            report.garbled.append(Flag(e.source, why))
    _language_checks(examples, report)

    prompt_chars, answer_chars = [len(p) for p in prompts], [len(a) for a in answers]
    report.lengths = {
        "prompt_chars": _stats(prompt_chars),
        "prompt_tokens": _stats([len(p.split()) for p in prompts]),
        "answer_chars": _stats(answer_chars),
        "answer_tokens": _stats([len(a.split()) for a in answers]),
    }
    report.outliers = _outliers(sources, prompts, "prompt") + _outliers(sources, answers, "answer")

    prompt_keys = [tuple(f"{m['role']}:{_norm(m['content'])}" for m in e.messages[:-1]) for e in examples]
    answer_keys = [_norm(a) for a in answers]
    pairs = _groups([(*p, "\0", a) for p, a in zip(prompt_keys, answer_keys, strict=True)], sources)
    report.duplicates = [g for g in pairs.values() if len(g) > 1]
    by_prompt: dict[tuple[str, ...], set[str]] = {}
    for p, a in zip(prompt_keys, answer_keys, strict=True):
        by_prompt.setdefault(p, set()).add(a)
    report.contradictions = [g for key, g in _groups(prompt_keys, sources).items() if len(by_prompt[key]) > 1]
    report.warnings = _warnings(report)
    return report


def _warnings(r: QualityReport) -> list[str]:
    out: list[str] = []
    n = r.rows
    if n == 0:
        return ["no rows: there is nothing to train on"]
    if r.duplicates:
        extra = sum(len(g) - 1 for g in r.duplicates)
        out.append(
            f"{_pct(extra, n)} of rows ({extra}) repeat another row ({len(r.duplicates)} group(s), e.g. "
            f"{_quote(r.duplicates[0])}): they weigh those examples twice or more; keep one of each"
        )
    if r.empty:
        out.append(
            f"{len(r.empty)} row(s) have an empty question or answer ({_quote(r.empty)}): they teach the "
            "model to answer with nothing; fill them in or drop them"
        )
    if r.garbled:
        out.append(
            f"{len(r.garbled)} row(s) look garbled ({_quote([f'{g.source}: {g.why}' for g in r.garbled])}): "
            "the model learns the garbage too; fix the encoding or drop them"
        )
    if r.off_language:
        out.append(
            f"{len({f.source for f in r.off_language})} row(s) are off-language "
            f"({_quote([f'{g.source}: {g.why}' for g in r.off_language])}): too few to teach that language, "
            "enough to make the model switch language mid-conversation; translate or drop them"
        )
    empty = set(r.empty)
    long_rows = [o for o in r.outliers if o.source not in empty]
    if long_rows:
        out.append(
            f"{len(long_rows)} row(s) are far longer than the rest "
            f"({_quote([f'{o.source}: {o.why}' for o in long_rows])}): they dominate the loss or get cut at "
            "the training sequence length; shorten or split them"
        )
    if r.contradictions:
        out.append(
            f"{len(r.contradictions)} question(s) have different answers "
            f"(e.g. {_quote(r.contradictions[0])}): the model learns to hedge between them; "
            "keep one answer per question"
        )
    return out


def _length(stats: LengthStats, unit: str) -> str:
    return f"median {stats.median:,.0f} · p95 {stats.p95:,.0f} · max {stats.max:,} {unit}"


def render_quality(report: QualityReport, console: Console) -> None:
    """A compact table of the checks, then the warnings (or that there is nothing to fix)."""
    table = Table(title=f"training data: {report.rows:,} rows", show_header=False)
    table.add_column("check", style="bold")
    table.add_column("result")
    extra = sum(len(g) - 1 for g in report.duplicates)
    table.add_row(
        "duplicates", f"{extra} extra cop{'y' if extra == 1 else 'ies'} in {len(report.duplicates)} group(s)"
    )
    table.add_row("empty", str(len(report.empty)))
    table.add_row("garbled", str(len(report.garbled)))
    langs = " · ".join(f"{k} {v:,}" for k, v in report.languages.most_common())
    table.add_row("languages", f"{langs or '-'} ({len(report.off_language)} off-language)")
    for part in ("prompt", "answer"):
        lengths = report.lengths.get(f"{part}_chars"), report.lengths.get(f"{part}_tokens")
        if lengths[0] is not None and lengths[1] is not None:
            table.add_row(f"{part} length", f"{_length(lengths[0], 'chars')}\n{_length(lengths[1], 'words')}")
    table.add_row("length outliers", str(len(report.outliers)))
    table.add_row("contradictions", f"{len(report.contradictions)} question(s) with different answers")
    console.print(table)
    if report.ok:
        console.print("[green]no problems found[/green]")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
