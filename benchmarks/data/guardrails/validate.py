"""Validate the guardrail evaluation sets in this folder and print their counts.

    python benchmarks/data/guardrails/validate.py [--dir DIR]

Checks every row's fields and values, id uniqueness per file, split values, that each attack's
`injected` string occurs in its text, that every PII span lies inside the text, does not overlap
another and holds a value of its kind (e-mail shape, Luhn-valid card, RRN with a real date and
check digit, ...), that near-miss rows hold no valid card/RRN, and the minimum sizes the benchmark
needs. Exits 1 with one line per problem (file:line: field — what is wrong) if anything fails.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from authored_pii import luhn_ok, rrn_check_digit, rrn_date_ok  # noqa: E402

SPLITS = {"dev", "test"}
LANGS = {"en", "ko"}
PII_KINDS = {"email", "phone", "rrn", "card", "account"}

SCHEMAS: dict[str, tuple[set[str], dict[str, set[str]]]] = {
    # file prefix -> (required fields, allowed values per field)
    "injection": ({"id", "text", "label", "lang", "source", "split"}, {"label": {"attack", "benign"}}),
    "indirect": ({"id", "text", "label", "lang", "source", "split"}, {"label": {"attack", "benign"}}),
    "pii": ({"id", "text", "spans", "split"}, {}),
    "profanity": ({"id", "text", "label", "split"}, {"label": {"profane", "clean"}}),
}

MINIMUMS = {
    # (file prefix, lang): {count key: minimum}
    ("injection", "en"): {"attack": 150, "benign": 200, "hard_benign": 60},
    ("injection", "ko"): {"attack": 100, "benign": 200, "hard_benign": 60},
    ("indirect", "en"): {"attack": 60, "benign": 60},
    ("indirect", "ko"): {"attack": 60, "benign": 60},
    ("pii", "en"): {"rows": 150, "near_miss": 50},
    ("pii", "ko"): {"rows": 150, "near_miss": 50},
    ("profanity", "en"): {"profane": 60, "clean": 60},
    ("profanity", "ko"): {"profane": 60, "clean": 60},
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DIGITS = re.compile(r"\d")


def span_problem(kind: str, value: str) -> str | None:
    """Why `value` is not a well-formed value of `kind`, or None when it is."""
    digits = "".join(_DIGITS.findall(value))
    if kind == "email":
        return None if _EMAIL.fullmatch(value) else "not an e-mail address"
    if kind == "card":
        return None if len(digits) in (15, 16) and luhn_ok(digits) else "not a Luhn-valid 15/16-digit card"
    if kind == "rrn":
        if not re.fullmatch(r"\d{6}-\d{7}", value):
            return "not YYMMDD-NNNNNNN"
        if not rrn_date_ok(value):
            return "RRN date is not a real date"
        return None if int(value[-1]) == rrn_check_digit(digits[:12]) else "RRN check digit is wrong"
    if kind == "phone":
        return None if 9 <= len(digits) <= 13 else "phone has an implausible digit count"
    if kind == "account":
        return (
            None
            if 10 <= len(digits) <= 14 and "-" in value
            else "account is not a hyphenated 10-14 digit number"
        )
    return f"unknown kind {kind!r}"


def boundary_problem(text: str, start: int, end: int, kind: str) -> str | None:
    """A span must cover the whole value: no digit (or e-mail character) may continue it on either side."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if kind == "email":
        inside = lambda c: c.isascii() and (c.isalnum() or c in "._%+-")  # noqa: E731
        if inside(before) or (inside(after) and after != "."):
            return "span cuts through the e-mail address"
        return None
    if before.isdigit() or after.isdigit():
        return "span cuts through a number"
    return None


def _valid_pii_inside(text: str) -> str | None:
    """A valid card or RRN hidden in a near-miss row would make its `spans: []` label wrong."""
    for m in re.finditer(r"\d{6}-\d{7}", text):
        if rrn_date_ok(m.group()):
            return f"valid RRN date in {m.group()!r}"
    for m in re.finditer(r"\d(?:[ -]?\d){14,15}", text):
        digits = re.sub(r"\D", "", m.group())
        if len(digits) == 16 and luhn_ok(digits):
            return f"Luhn-valid 16-digit number {m.group()!r}"
    return None


def check_file(path: Path, problems: list[str]) -> Counter[str]:
    prefix = path.name.split("-")[0]
    required, allowed = SCHEMAS[prefix]
    counts: Counter[str] = Counter()
    ids: set[str] = set()
    attacks: list[tuple[str, dict[str, Any]]] = []  # indirect attacks, checked against `clean` below
    clean: dict[str, str] = {}  # indirect benign passage -> split
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{lineno}"
        try:
            row: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        missing = required - row.keys()
        if missing:
            problems.append(f"{where}: missing field(s) {sorted(missing)}")
            continue
        if row["id"] in ids:
            problems.append(f"{where}: id — {row['id']!r} repeats an earlier row")
        ids.add(row["id"])
        if row["split"] not in SPLITS:
            problems.append(f"{where}: split — {row['split']!r} is not dev/test")
        if "lang" in row and row["lang"] not in LANGS:
            problems.append(f"{where}: lang — {row['lang']!r} is not en/ko")
        if not isinstance(row["text"], str) or not row["text"].strip():
            problems.append(f"{where}: text — empty")
            continue
        for field, values in allowed.items():
            if row[field] not in values:
                problems.append(f"{where}: {field} — {row[field]!r} not in {sorted(values)}")
        counts[f"split:{row['split']}"] += 1
        counts["rows"] += 1
        if prefix in ("injection", "indirect", "profanity"):
            counts[row["label"]] += 1
            counts[f"{row['label']}:{row['split']}"] += 1
        if prefix == "injection" and row["label"] == "benign" and row.get("hard"):
            counts["hard_benign"] += 1
        if prefix == "injection":
            counts[f"source:{row['source'].split(':', 1)[0]}"] += 1
        if prefix == "indirect" and row["label"] == "attack":
            injected = row.get("injected")
            if not isinstance(injected, str) or injected not in row["text"]:
                problems.append(f"{where}: injected — missing or not a substring of text")
            else:
                attacks.append((where, row))
        if prefix == "indirect" and row["label"] == "benign":
            clean[row["text"]] = row["split"]
        if prefix == "profanity" and row.get("scunthorpe"):
            counts["scunthorpe"] += 1
        if prefix == "pii":
            _check_spans(row, where, problems, counts)
    for where, row in attacks:
        # removing exactly the injected string (and the space joining it) must give back a clean
        # passage of the same split: that is what a neutraliser is checked against
        stripped = row["text"].replace(row["injected"] + " ", "", 1).replace(" " + row["injected"], "", 1)
        if clean.get(stripped) != row["split"]:
            problems.append(
                f"{where}: injected — removing it does not give a benign passage of the same split"
            )
    return counts


def _check_spans(row: dict[str, Any], where: str, problems: list[str], counts: Counter[str]) -> None:
    spans = row["spans"]
    if not isinstance(spans, list):
        problems.append(f"{where}: spans — not a list")
        return
    if not spans:
        counts["near_miss"] += 1
        counts[f"near_miss:{row['split']}"] += 1
        hidden = _valid_pii_inside(row["text"])
        if hidden:
            problems.append(f"{where}: spans — row has no spans but holds a {hidden}")
        return
    counts["with_spans"] += 1
    end_prev = -1
    for span in sorted(spans, key=lambda s: s.get("start", -1)):
        if not {"start", "end", "kind"} <= span.keys() or span["kind"] not in PII_KINDS:
            problems.append(f"{where}: spans — malformed span {span}")
            continue
        start, end = span["start"], span["end"]
        if not (0 <= start < end <= len(row["text"])):
            problems.append(f"{where}: spans — offsets {start}..{end} outside the text")
            continue
        if start < end_prev:
            problems.append(f"{where}: spans — span at {start} overlaps the previous one")
        end_prev = end
        value = row["text"][start:end]
        if value != value.strip():
            problems.append(f"{where}: spans — {value!r} has surrounding whitespace")
        why = span_problem(span["kind"], value) or boundary_problem(row["text"], start, end, span["kind"])
        if why:
            problems.append(f"{where}: spans — {value!r} ({span['kind']}): {why}")
        counts[f"kind:{span['kind']}"] += 1
        counts[f"kind:{span['kind']}:{row['split']}"] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate the guardrail evaluation sets.")
    parser.add_argument("--dir", type=Path, default=HERE)
    args = parser.parse_args(argv)
    problems: list[str] = []
    kind_totals: Counter[str] = Counter()
    files = sorted(args.dir.glob("*.jsonl"))
    if not files:
        print(f"validate.py: no .jsonl files in {args.dir}; run build.py first", file=sys.stderr)
        return 1
    for path in files:
        counts = check_file(path, problems)
        prefix, lang = path.stem.split("-", 1)
        for key, minimum in MINIMUMS.get((prefix, lang), {}).items():
            if counts[key] < minimum:
                problems.append(f"{path.name}: {key} — {counts[key]} rows, the benchmark needs >= {minimum}")
        if prefix == "pii":
            kind_totals.update(
                {k: v for k, v in counts.items() if k.count(":") == 1 and k.startswith("kind:")}
            )
        shown = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        print(f"{path.name}: {shown}")
    for kind in sorted(PII_KINDS):
        n = kind_totals[f"kind:{kind}"]
        if n < 25:
            problems.append(f"pii-*.jsonl: kind {kind} — {n} spans overall, the benchmark needs >= 25")
    print("pii spans overall: " + ", ".join(f"{k}={kind_totals[f'kind:{k}']}" for k in sorted(PII_KINDS)))
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
