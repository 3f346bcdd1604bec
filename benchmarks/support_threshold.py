"""How `support.MIN_SUPPORT_SHARE` was chosen: the lexical share of hand-labelled answer sentences
(quotes, paraphrases, Korean with other particles; word salad, wrong explanations, invented figures)
in the source chunk they cite, on the sample corpus — and what real SmolLM2-135M answers get.

    nice .venv/bin/python benchmarks/support_threshold.py [--smollm2] \\
        --json benchmarks/results/support_threshold.json

Retrieval is keyword-only (no embedder to load); each labelled sentence is judged against the best
retrieved chunk of the document it names, as `Responder.judge` would for "[1]".
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from demo_questions import DEMO_QUESTIONS

from llmpilot import factory
from llmpilot.answering import Responder
from llmpilot.config import parse_config
from llmpilot.ingest import Ingestor
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.sources.files import discover_files
from llmpilot.support import check_support, figures_and_codes_found

FILES = ("warranty.md", "support.txt", "returns_ko.txt", "faq.csv", "safety.html", "installation_ko.md")

#: (search query, document, sentence as the model would write it, supported?)
CASES: list[tuple[str, str, str, bool]] = [
    ("phone support Saturday", "support.txt",
     "Phone support is open on Saturday from 10:00 to 14:00 [1].", True),
    ("phone support Saturday", "support.txt",
     "On Saturday, phone support is open from 10:00 to 14:00 [1].", True),
    ("phone support Sunday", "support.txt",
     "Phone support is closed on Sundays and on Korean public holidays [1].", True),
    ("battery warranty years", "warranty.md",
     "The SolBox 10 battery is warranted for 10 years from the installation date or 6,000 full "
     "charge cycles [1].", True),
    ("register battery", "warranty.md",
     "A battery that is not registered within 30 days is covered for 5 years instead of 10 [1].", True),
    ("error code E07", "safety.html",
     "Error code E07 means overheating: the internal temperature is above 60 °C [1].", True),
    ("반품 운송비", "returns_ko.txt",
     "단순 변심으로 반품하면 왕복 운송비 15만 원은 고객이 부담해요 [1].", True),
    ("반품 신청 기간", "returns_ko.txt", "제품을 받은 날부터 14일 안에 반품을 신청할 수 있어요 [1].", True),
    ("반품 검수", "returns_ko.txt", "반품 제품이 물류센터에 도착하면 2영업일 안에 검수를 합니다 [1].", True),
    # Paraphrases in other words.
    ("phone support Saturday", "support.txt", "Saturday phone hours are 10:00 to 14:00 [1].", True),
    ("battery warranty years", "warranty.md",
     "The battery warranty lasts 10 years or 6,000 full cycles, whichever comes first [1].", True),
    ("error code E07", "safety.html",
     "E07 is an overheating error: the unit shuts down when it gets hotter than 60 °C [1].", True),
    ("반품 운송비", "returns_ko.txt",
     "고객 변심으로 반품할 때는 운송비 15만 원을 고객이 내야 합니다 [1].", True),
    # Wrong explanation with the right words around it: E12 is "cell voltage imbalance".
    ("error code E07", "safety.html",
     "The error code E12 is a warning message that indicates the battery has been damaged [1].", False),
    ("error code E07", "safety.html",
     "Error code E07 means that the battery has lost its connection to the app [1].", False),
    ("battery warranty years", "warranty.md",
     "The warranty of the battery is a phone of the cycles and the Saturday of the installation [1].",
     False),
    ("battery warranty years", "warranty.md",
     "Batteries are generally safe products that customers love to use every day at home [1].", False),
    ("phone support Saturday", "support.txt",
     "Phone support is open on Saturday from 9:00 to 13:00 [1].", False),
    ("battery warranty years", "warranty.md", "The battery is covered for 3 years [1].", False),
    ("반품 운송비", "returns_ko.txt",
     "배터리 보증 기간은 안전한 사용을 위해 매년 점검하는 서비스 기간을 말합니다 [1].", False),
    ("반품 운송비", "returns_ko.txt", "반품 운송비는 무료이며 고객은 아무것도 부담하지 않습니다 [1].", False),
    ("battery warranty years", "warranty.md",
     "배터리 보증 기간은 배터리의 보증 기간입니다 보증 기간 [1].", False),
]  # fmt: skip


def build(root: Path, generate: bool) -> Project:
    cfg: dict[str, Any] = {"retrieval": {"mode": "keyword", "top_k": 3}, "answer": {"abstain_below": 0.2}}
    if generate:
        cfg["generator"] = {"max_tokens": 120, "n_threads": 1, "temperature": 0.0}
    project = Project.from_config(root / "project", parse_config(cfg))
    docs = root / "docs"
    docs.mkdir()
    for name in FILES:
        with resources.as_file(resources.files("llmpilot") / "sample_corpus" / name) as src:
            shutil.copy(src, docs / name)
    found = discover_files([docs])
    Ingestor(project).run(found.units, origins=found.origins, errors=found.errors, skipped=found.skipped)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smollm2", action="store_true", help="also judge real SmolLM2 answers")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    tokenize = factory.tokenizer("auto")
    with tempfile.TemporaryDirectory() as tmp:
        project = build(Path(tmp), args.smollm2)
        pipeline = Pipeline(project)
        labelled = []
        for query, doc, sentence, expected in CASES:
            hit = next(h for h in pipeline.search(query) if h.chunk.doc_id.endswith(doc))
            check = check_support(
                [sentence], [hit], tokenize, verifiable=lambda n: True, attribute_min_overlap=0.5
            ).sentences[0]
            row = {
                "sentence": sentence,
                "doc": doc,
                "label": expected,
                "share": round(check.share, 3),
                "figures_and_codes": figures_and_codes_found(sentence, hit),
                "supported": check.supported,
            }
            labelled.append(row)
            print(f"{'OK ' if check.supported == expected else 'BAD'} label={expected!s:5} "
                  f"share={check.share:.3f} figs={row['figures_and_codes']!s:5} {sentence}")  # fmt: skip
        good = [r["share"] for r in labelled if r["label"] and r["figures_and_codes"]]
        bad = [r["share"] for r in labelled if not r["label"] and r["figures_and_codes"]]
        print(f"supported: min share {min(good):.3f}; unsupported with right figures: max {max(bad):.3f}")
        real = []
        if args.smollm2:
            responder = Responder(pipeline, cache=False)
            for question in DEMO_QUESTIONS:
                answer = responder.ask(question)
                print(f"\nQ: {question}\nA: {answer.unsupported_text or answer.text}")
                print(f"   support={answer.support:.2f} abstained={answer.abstained} "
                      f"unsupported={answer.unsupported_sentences}")  # fmt: skip
                real.append(
                    {
                        "question": question,
                        "answer": answer.unsupported_text or answer.text,
                        "support": answer.support,
                        "abstained": answer.abstained,
                        "unsupported_sentences": answer.unsupported_sentences,
                    }
                )
        project.close()
    if args.json:
        out = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "tokenizer": "auto",
            "labelled": labelled,
            "supported_min_share": min(good),
            "unsupported_max_share": max(bad),
            "smollm2": real,
        }
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
