"""Validate the cache contrast set and (re)derive its fit/holdout split.

Why a script and not a test: the files are data that the semantic-cache benchmark and
`llmpilot cache calibrate/eval` read; this checks the invariants those tools rely on
(formats, unique ids, no identical or duplicated rows, valid kinds, minimum counts) and
that `split.json` is exactly the seeded, kind-stratified 70/30 split, so a hand edit of
a data file cannot silently leave a stale split behind.

    python benchmarks/data/cache_contrast/validate.py             # check, print counts
    python benchmarks/data/cache_contrast/validate.py --write-split  # rewrite split.json
    python benchmarks/data/cache_contrast/validate.py --markdown     # counts + sha256 table for README
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import unicodedata
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 13  # issue 13; fixed so every run and every reader gets the same split
HOLDOUT_SHARE = 0.3
KINDS = ("number", "date", "entity", "negation", "unit", "particle", "antonym", "comparative")
PAIR_FILES = {"pairs-ko.jsonl": ("ko-p-", 100), "pairs-en.jsonl": ("en-p-", 100)}
NEG_FILES = {"negatives-ko.jsonl": ("ko-n-", 150), "negatives-en.jsonl": ("en-n-", 150)}
MIN_PER_KIND = 20


def normalize(text: str) -> str:
    """Text as an exact cache would key it: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def read_rows(path: Path) -> list[dict[str, str]]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            raise ValueError(f"{path.name}:{lineno}: blank line; remove it")
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{lineno}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise ValueError(f"{path.name}:{lineno}: expected a JSON object")
        rows.append(row)
    return rows


def check_file(name: str, rows: list[dict[str, str]], fields: tuple[str, ...], prefix: str) -> list[str]:
    """Return a list of problems (empty when the file is valid)."""
    problems: list[str] = []
    ids: Counter[str] = Counter()
    texts: Counter[tuple[str, str]] = Counter()
    for lineno, row in enumerate(rows, 1):
        where = f"{name}:{lineno}"
        if set(row) != set(fields):
            problems.append(f"{where}: fields {sorted(row)} != {sorted(fields)}")
            continue
        if not all(isinstance(row[f], str) and row[f].strip() for f in fields):
            problems.append(f"{where}: every field must be a non-empty string")
            continue
        if not row["id"].startswith(prefix):
            problems.append(f"{where}: id {row['id']!r} must start with {prefix!r}")
        ids[row["id"]] += 1
        left, right = (row["origin"], row["similar"]) if "origin" in row else (row["a"], row["b"])
        if normalize(left) == normalize(right):
            problems.append(f"{where}: both texts are the same after normalisation")
        texts[(normalize(left), normalize(right))] += 1
        if "kind" in row and row["kind"] not in KINDS:
            problems.append(f"{where}: kind {row['kind']!r} not in {KINDS}")
    problems += [f"{name}: id {i!r} occurs {n} times" for i, n in ids.items() if n > 1]
    problems += [f"{name}: row {t!r} occurs {n} times" for t, n in texts.items() if n > 1]
    return problems


def stratified_split(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Seeded 70/30 split, stratified by `kind` (pairs have one stratum)."""
    rng = random.Random(SEED)
    strata: dict[str, list[str]] = {}
    for row in rows:
        strata.setdefault(row.get("kind", "paraphrase"), []).append(row["id"])
    fit: list[str] = []
    holdout: list[str] = []
    for kind in sorted(strata):
        ids = sorted(strata[kind])
        rng.shuffle(ids)
        n_hold = round(len(ids) * HOLDOUT_SHARE)
        holdout += ids[:n_hold]
        fit += ids[n_hold:]
    return {"fit": sorted(fit), "holdout": sorted(holdout)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-split", action="store_true", help="rewrite split.json from the data files")
    parser.add_argument("--markdown", action="store_true", help="print the README tables")
    args = parser.parse_args()

    problems: list[str] = []
    loaded: dict[str, list[dict[str, str]]] = {}
    specs: list[tuple[str, tuple[str, ...], str, int]]
    specs = [(n, ("id", "origin", "similar"), p, m) for n, (p, m) in PAIR_FILES.items()]
    specs += [(n, ("id", "a", "b", "kind"), p, m) for n, (p, m) in NEG_FILES.items()]
    for name, fields, prefix, minimum in specs:
        rows = read_rows(HERE / name)
        loaded[name] = rows
        problems += check_file(name, rows, fields, prefix)
        if len(rows) < minimum:
            problems.append(f"{name}: {len(rows)} rows, need >= {minimum}")
        if "kind" in fields:
            per_kind = Counter(r.get("kind") for r in rows)
            problems += [
                f"{name}: kind {k!r} has {per_kind[k]} rows, need >= {MIN_PER_KIND}"
                for k in KINDS
                if per_kind[k] < MIN_PER_KIND
            ]

    # Within one language, a text must not be both a paraphrase anchor and one side of a
    # look-alike pair: a benchmark that inserts both would score a correct hit as wrong.
    for lang in ("ko", "en"):
        pair_texts = {normalize(r[f]) for r in loaded[f"pairs-{lang}.jsonl"] for f in ("origin", "similar")}
        neg_texts = {normalize(r[f]) for r in loaded[f"negatives-{lang}.jsonl"] for f in ("a", "b")}
        problems += [f"{lang}: {t!r} is in both pairs and negatives" for t in sorted(pair_texts & neg_texts)]

    splits = {name: stratified_split(rows) for name, rows in loaded.items()}
    split_path = HERE / "split.json"
    if args.write_split:
        split_path.write_text(json.dumps(splits, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    elif not split_path.exists() or json.loads(split_path.read_text(encoding="utf-8")) != splits:
        problems.append("split.json is missing or stale; run with --write-split")

    # The README is the provenance record; its checksums must describe the files on disk.
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    for name in [*loaded, "split.json"]:
        if (HERE / name).exists() and f"| {name} |" in readme and sha256(HERE / name) not in readme:
            problems.append(f"README.md: sha256 of {name} is stale; paste the table from --markdown")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    for name, rows in loaded.items():
        kinds = Counter(r.get("kind", "paraphrase") for r in rows)
        sp = splits[name]
        print(f"{name}: {len(rows)} rows (fit {len(sp['fit'])}, holdout {len(sp['holdout'])}) {dict(kinds)}")
    if args.markdown:
        print("\n| file | rows | fit | holdout | sha256 |\n| --- | --- | --- | --- | --- |")
        for name in [*loaded, "split.json"]:
            n = len(loaded[name]) if name in loaded else "-"
            fit = len(splits[name]["fit"]) if name in splits else "-"
            hold = len(splits[name]["holdout"]) if name in splits else "-"
            print(f"| {name} | {n} | {fit} | {hold} | `{sha256(HERE / name)}` |")
        print("\n| kind | ko | en |\n| --- | --- | --- |")
        ko = Counter(r["kind"] for r in loaded["negatives-ko.jsonl"])
        en = Counter(r["kind"] for r in loaded["negatives-en.jsonl"])
        for k in KINDS:
            print(f"| {k} | {ko[k]} | {en[k]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
