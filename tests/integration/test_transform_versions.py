"""Transform plans as versions, on a real project (SQLite store, keyword index, CLI in process):
ingest keeps the originals; preview writes nothing; apply re-derives documents, chunks and indexes
from the kept originals (source files untouched) and records a version; undo leaves the store exactly
as it was before the plan."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from llmpilot.cli import app
from llmpilot.config import update_config_file
from llmpilot.errors import ConfigError, LlmpilotError
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.transforms.rederive import MissingOriginalsError

runner = CliRunner()

HEADER = "Haneul Energy Notices | Home > Support > Notices"
FOOTER = (
    "© 2026 Haneul Energy. All rights reserved.\nDo not redistribute without permission.\n"
    "Call 02-1234-5678 for help."
)
FOOTER_KO = "© 2026 한울에너지. 무단 전재 및 재배포 금지.\n고객센터 02-1234-5678"

NOTICES = {
    "maintenance.txt": f"{HEADER}\nServer maintenance\n\nThe app is offline on 2026/3/5 from 02:00 to "
    f"04:00.\nBattery backup keeps working during the maintenance.\n\n{FOOTER}\n",
    "firmware.txt": f"{HEADER}\nFirmware 2.4\n\nFirmware 2.4 adds a storm mode that charges to 100% "
    f"before a typhoon warning.\nIt installs on March 10, 2026.\n\n{FOOTER}\n",
    "prices.txt": f"{HEADER}\nNew prices\n\nThe SolBox 10 costs 12,900,000 won from April.\n"
    f"Installation stays free in Seoul and Gyeonggi.\n\n{FOOTER}\n",
    "점검_ko.txt": f"{HEADER}\n정기 점검 안내\n\n목차\n1. 일정\n2. 영향\n\n2026년 4월 2일 새벽 2시부터 "
    f"4시까지 앱 점검이 있습니다.\n점검 중에도 배터리 백업은 정상 동작합니다.\n\n{FOOTER_KO}\n",
}


@dataclass
class Outcome:
    exit_code: int
    output: str


def _invoke(*args: str) -> Outcome:
    """The CLI in process; a user error reads as `llmpilot` shows it (llmpilot.cli.main): exit 2."""
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, LlmpilotError):
        return Outcome(2, result.output + f"error: {result.exception}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.output)


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _state(project_dir: Path) -> dict[str, Any]:
    """Everything a transform version may change: documents, the live chunk set's chunks, originals."""
    proj = Project.open(project_dir)
    try:
        store = proj.store
        with store.engine.connect() as conn:
            docs = sorted(
                (
                    r.id,
                    r.source_key,
                    r.title,
                    r.text,
                    r.content_hash,
                    r.language,
                    r.metadata_json,
                    r.duplicate_of,
                )
                for r in conn.execute(select(schema.documents))
            )
            originals = sorted(tuple(r) for r in conn.execute(select(schema.source_documents)))
        chunks, _ = store.chunks(proj.config.chunks_hash())
        return {
            "documents": docs,
            "chunks": sorted((c.id, c.doc_id, c.text, c.start, c.end) for c in chunks),
            "originals": originals,
            "steps": proj.config.transforms.steps,
        }
    finally:
        proj.close()


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in NOTICES.items():
        (docs / name).write_text(text, encoding="utf-8")
    root = tmp_path / "support"
    assert _invoke("init", str(root), "--generator", "extractive").exit_code == 0
    update_config_file(root / "llmpilot.yaml", {"retrieval": {"mode": "keyword"}})
    result = _invoke("ingest", "-p", str(root), str(docs), "--no-progress")
    assert result.exit_code == 0, result.output
    return root, docs


def _write_plan(path: Path, steps: list[dict[str, Any]], request: str | None = None) -> Path:
    path.write_text(
        json.dumps({"version": 1, "request": request, "steps": steps}, ensure_ascii=False), encoding="utf-8"
    )
    return path


def test_ingest_keeps_each_unit_original_documents(project: tuple[Path, Path]) -> None:
    root, _ = project
    proj = Project.open(root)
    originals = proj.store.originals()
    proj.close()
    assert len(originals) == 4
    texts = [d.text for docs in originals.values() for d in docs]
    # As loaded: the phone number is there although transforms.pii redacts it in the documents table.
    assert all("02-1234-5678" in t for t in texts)
    state = _state(root)
    assert all("[phone]" in d[3] and "02-1234-5678" not in d[3] for d in state["documents"])


def test_preview_apply_undo_round_trip(project: tuple[Path, Path], tmp_path: Path) -> None:
    root, docs = project
    files_before = _tree_digest(docs)
    before = _state(root)
    config_before = (root / "llmpilot.yaml").read_bytes()
    plan = _write_plan(
        tmp_path / "plan.json",
        [
            {"op": "drop_lines", "pattern": "^Haneul Energy Notices \\|"},
            {"op": "drop_block", "text": FOOTER},
            {"op": "drop_block", "text": FOOTER_KO},
            {"op": "drop_section", "start": "^목차$"},
            {"op": "normalize_dates"},
        ],
        request="remove the header, footers and table of contents; ISO dates",
    )

    preview = _invoke("transform", "preview", str(plan), "-p", str(root), "--json", str(tmp_path / "p.json"))
    assert preview.exit_code == 0, preview.output
    report = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert report["documents_before"] == report["documents_after"] == 4
    assert report["documents_changed"] == 4 and report["emptied"] == []
    assert [s["op"] for s in report["step_stats"]] == [
        "drop_lines", "drop_block", "drop_block", "drop_section", "normalize_dates",
    ]  # fmt: skip
    assert "-© 2026 Haneul Energy. All rights reserved." in "\n".join(report["samples"][0]["diff"]) or any(
        "-© 2026" in line for s in report["samples"] for line in s["diff"]
    )
    # Nothing written by a preview.
    assert _state(root) == before
    assert (root / "llmpilot.yaml").read_bytes() == config_before

    applied = _invoke("transform", "apply", str(plan), "-p", str(root), "--no-progress")
    assert applied.exit_code == 0, applied.output
    after = _state(root)
    texts = {d[0]: d[3] for d in after["documents"]}
    assert len(texts) == 4
    assert not any(
        HEADER in t or "All rights reserved" in t or "무단 전재" in t or "목차" in t for t in texts.values()
    )
    assert "2026-03-05" in texts["docs/maintenance.txt"] and "2026-03-10" in texts["docs/firmware.txt"]
    assert "2026-04-02" in texts["docs/점검_ko.txt"]
    assert after["originals"] == before["originals"]  # the kept originals are never rewritten
    assert after["chunks"] and after["chunks"] != before["chunks"]
    assert len(after["steps"]) == 5
    assert (root / "llmpilot.yaml.bak").read_bytes() == config_before
    assert _tree_digest(docs) == files_before
    # The answer path reads the new chunks: the footer is no longer searchable.
    search = _invoke("search", "-p", str(root), "All rights reserved redistribute", "--json")
    assert search.exit_code == 0
    assert "All rights reserved" not in search.output

    history = _invoke("transform", "history", "-p", str(root), "--json")
    rows = json.loads(history.output)
    assert [(r["version"], r["steps"], r["undone_at"]) for r in rows] == [(1, 5, None)]
    assert rows[0]["report"]["documents_changed"] == 4

    undone = _invoke("transform", "undo", "-p", str(root), "--no-progress")
    assert undone.exit_code == 0, undone.output
    assert _state(root) == before
    assert _tree_digest(docs) == files_before
    rows = json.loads(_invoke("transform", "history", "-p", str(root), "--json").output)
    assert rows[0]["undone_at"] is not None

    again = _invoke("transform", "undo", "-p", str(root), "--no-progress")
    assert again.exit_code == 2 and "nothing to undo" in again.output


def test_split_and_filter_steps_change_the_document_set_and_undo_restores_it(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = project
    before = _state(root)
    plan = _write_plan(
        tmp_path / "split.json",
        [
            {"op": "split_documents", "pattern": "^\\d\\. "},
            {"op": "filter_language", "keep": ["en"]},
        ],
    )
    assert _invoke("transform", "apply", str(plan), "-p", str(root), "--no-progress").exit_code == 0
    ids = [d[0] for d in _state(root)["documents"]]
    # The Korean notice splits into #0 (the English site header + its title: detected English, kept),
    # #1 and #2 (Korean: dropped); the English notices have no numbered lines and stay whole.
    assert sorted(ids) == [
        "docs/firmware.txt",
        "docs/maintenance.txt",
        "docs/prices.txt",
        "docs/점검_ko.txt#0",
    ]
    assert _invoke("transform", "undo", "-p", str(root), "--no-progress").exit_code == 0
    assert _state(root) == before


def test_a_plan_that_empties_documents_is_refused_unless_allowed(
    project: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = project
    before = _state(root)
    plan = _write_plan(
        tmp_path / "gut.json", [{"op": "regex_replace", "pattern": "(?s).+", "replacement": ""}]
    )
    result = _invoke("transform", "apply", str(plan), "-p", str(root), "--no-progress")
    assert result.exit_code == 2
    assert "4 document(s) would become empty" in result.output and "--allow-empty" in result.output
    assert _state(root) == before


def test_sources_ingested_without_originals_are_named(project: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = project
    proj = Project.open(root)
    with proj.store.transaction() as conn:
        conn.execute(
            delete(schema.source_documents).where(schema.source_documents.c.source_key == "docs/prices.txt")
        )
    proj.close()
    plan = _write_plan(tmp_path / "p.json", [{"op": "normalize_numbers"}])
    result = _invoke("transform", "preview", str(plan), "-p", str(root))
    assert result.exit_code == 2
    assert "prices.txt" in result.output and "llmpilot ingest" in result.output
    with pytest.raises(MissingOriginalsError):
        from llmpilot.transforms.plan import load_plan
        from llmpilot.transforms.versions import apply_plan

        apply_plan(Project.open(root), load_plan(plan))


def test_a_bad_step_in_the_config_names_the_file_and_the_step(project: tuple[Path, Path]) -> None:
    root, _ = project
    path = root / "llmpilot.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "  steps: []",
        "  steps:\n    - {op: drop_lines, pattern: '^ok$'}\n"
        "    - {op: regex_replace, pattern: 'a(', replacement: ''}",
    )
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Project.open(root)
    message = str(caught.value)
    assert "llmpilot.yaml" in message and "step 2" in message and "regex_replace" in message


def test_a_deduplicate_step_turns_on_duplicate_marking_at_ingest(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in NOTICES.items():
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "prices-copy.txt").write_text(NOTICES["prices.txt"], encoding="utf-8")
    root = tmp_path / "support"
    assert _invoke("init", str(root), "--generator", "extractive").exit_code == 0
    update_config_file(
        root / "llmpilot.yaml",
        {"retrieval": {"mode": "keyword"}, "transforms": {"dedup_exact": False, "dedup_near": False}},
    )
    assert _invoke("ingest", "-p", str(root), str(docs), "--no-progress").exit_code == 0
    before = _state(root)
    assert not any(d[7] for d in before["documents"])
    plan = _write_plan(tmp_path / "dedup.json", [{"op": "deduplicate"}])
    assert _invoke("transform", "apply", str(plan), "-p", str(root), "--no-progress").exit_code == 0
    marked = {d[0]: d[7] for d in _state(root)["documents"] if d[7]}
    assert marked == {"docs/prices.txt": "docs/prices-copy.txt"} or marked == {
        "docs/prices-copy.txt": "docs/prices.txt"
    }
    assert _invoke("transform", "undo", "-p", str(root), "--no-progress").exit_code == 0
    assert _state(root) == before
