"""Rebuild the packaged embedder-benchmark sets from their public sources (run once, by hand).

Not imported by llmpilot: it records exactly how each JSONL file here was made, so the conversion can
be checked and repeated. Sources are git checkouts of the public repositories named in README.md (pass
their git directories); shared data comes from ../shared/data. Every sample is deterministic (fixed
seed, sorted inputs), so a rerun reproduces the files byte for byte.

    python convert.py --klue GITDIR --korsts GITDIR --stsb GITDIR --nsmc GITDIR --shared DIR --out DIR
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

#: STS-B sources whose text is CC BY-SA (the captions of `images`, the SNLI sentences of `track5.en-en`);
#: MSRvid/MSRpar need Microsoft's licence agreement and the Stack Exchange rows need per-post links.
STS_SOURCES = ("images", "track5.en-en")
SEED = 15


def git_show(gitdir: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", gitdir, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def git_ls(gitdir: str, folder: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", gitdir, "ls-tree", "--name-only", "HEAD", folder + "/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(out.split())


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(path.name, len(rows))


def sts(korsts: str, stsb: str, out: Path) -> None:
    """KorSTS test is a translation of STS-B test, row for row (the scores match on all 1,379 rows)."""
    ko = list(csv.reader(io.StringIO(git_show(korsts, "KorSTS/sts-test.tsv")), delimiter="\t", quoting=3))
    en = list(csv.reader(io.StringIO(git_show(stsb, "data/stsb-en-test.csv"))))
    header, ko_rows = ko[0], ko[1:]
    assert header[:7] == ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"], header
    assert len(ko_rows) == len(en) == 1379
    rows_ko, rows_en = [], []
    for i, (k, e) in enumerate(zip(ko_rows, en, strict=True)):
        assert float(k[4]) == float(e[2]), (i, k, e)
        if k[1] not in STS_SOURCES:
            continue
        rid = f"{k[1]}-{k[2]}-{k[3]}"
        rows_ko.append({"id": rid, "sentence1": k[5], "sentence2": k[6], "score": float(k[4])})
        rows_en.append({"id": rid, "sentence1": e[0], "sentence2": e[1], "score": float(e[2])})
    write(out / "sts-en.jsonl", rows_en)
    write(out / "sts-ko.jsonl", rows_ko)


def klue_sts(klue: str, out: Path) -> None:
    """KLUE-STS dev: pair classification on its binary label (score >= 3), and its first sentences
    clustered by the domain they were sampled from (Airbnb reviews, policy news, smart-speaker queries)."""
    data = json.loads(git_show(klue, "klue_benchmark/klue-sts-v1.1/klue-sts-v1.1_dev.json"))
    pairs = [
        {
            "id": r["guid"],
            "sentence1": r["sentence1"],
            "sentence2": r["sentence2"],
            "label": int(r["labels"]["binary-label"]),
        }
        for r in data
    ]
    write(out / "pairs-ko.jsonl", pairs)
    seen: set[str] = set()
    clusters = []
    for r in data:
        if r["sentence1"] in seen:
            continue
        seen.add(r["sentence1"])
        domain = r["source"].split("-")[0]  # airbnb-rtt / airbnb-sampled -> airbnb
        clusters.append({"id": r["guid"], "text": r["sentence1"], "label": domain})
    write(out / "clustering-ko.jsonl", clusters)


def nsmc(gitdir: str, out: Path, per_label: int = 300, train_per_label: int = 100) -> None:
    """NSMC's own rule on its raw crawl: rating 1-4 negative, 9-10 positive, 5-8 left out; author names
    are dropped. One review per movie file at most per label, so no movie dominates."""
    by_label: dict[int, list[dict[str, Any]]] = defaultdict(list)
    seen: set[str] = set()
    for path in git_ls(gitdir, "raw"):
        reviews = json.loads(git_show(gitdir, path))
        taken: set[int] = set()
        for r in reviews:
            text = " ".join(str(r.get("review", "")).split())
            rating = int(r.get("rating", 0))
            label = 0 if 1 <= rating <= 4 else 1 if rating >= 9 else -1
            if label < 0 or label in taken or len(text) < 10 or text in seen:
                continue
            taken.add(label)
            seen.add(text)
            by_label[label].append({"id": f"nsmc-{r['review_id']}", "text": text, "label": label})
        if all(len(by_label[lab]) >= per_label * 3 for lab in (0, 1)):
            break
    rng = random.Random(SEED)
    rows = []
    for label in (0, 1):
        chosen = rng.sample(by_label[label], per_label)
        for i, row in enumerate(chosen):
            rows.append({**row, "split": "train" if i < train_per_label else "test"})
    write(out / "classification-ko.jsonl", rows)


def mmlu(shared: Path, out: Path, train_per_subject: int = 10) -> None:
    """MMLU questions (the 500 of ../shared/data/mmlu-en): subject classification and clustering."""
    items = [json.loads(line) for line in (shared / "mmlu-en" / "questions.jsonl").open(encoding="utf-8")]
    count: dict[str, int] = defaultdict(int)
    rows = []
    for it in items:
        split = "train" if count[it["subject"]] < train_per_subject else "test"
        count[it["subject"]] += 1
        rows.append({"id": it["id"], "text": it["question"], "label": it["subject"], "split": split})
    write(out / "classification-en.jsonl", rows)
    write(out / "clustering-en.jsonl", [{k: r[k] for k in ("id", "text", "label")} for r in rows])


def cache_pairs(shared: Path, out: Path, n: int = 250) -> None:
    """GPTCache pairs: `n` paraphrase pairs (label 1) and `n` pairs of an origin with another pair's
    paraphrase (label 0), both halves drawn without overlap with a fixed seed."""
    pairs = [json.loads(line) for line in (shared / "cache-pairs" / "pairs.jsonl").open(encoding="utf-8")]
    rng = random.Random(SEED)
    order = rng.sample(range(len(pairs)), 3 * n)
    rows = []
    for i in order[:n]:
        p = pairs[i]
        rows.append({"id": f"pos-{p['id']}", "sentence1": p["origin"], "sentence2": p["similar"], "label": 1})
    for a, b in zip(order[n : 2 * n], order[2 * n :], strict=True):
        pa, pb = pairs[a], pairs[b]
        if pa["origin"] == pb["origin"]:
            continue
        rows.append(
            {
                "id": f"neg-{pa['id']}-{pb['id']}",
                "sentence1": pa["origin"],
                "sentence2": pb["similar"],
                "label": 0,
            }
        )
    write(out / "pairs-en.jsonl", rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    for name in ("klue", "korsts", "stsb", "nsmc"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--shared", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = ap.parse_args()
    sts(args.korsts, args.stsb, args.out)
    klue_sts(args.klue, args.out)
    nsmc(args.nsmc, args.out)
    mmlu(args.shared, args.out)
    cache_pairs(args.shared, args.out)


if __name__ == "__main__":
    main()
