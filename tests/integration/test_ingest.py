"""Ingest logic end to end on real files, with the model-free hashing embedder (fast, deterministic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpilot.config import parse_config
from llmpilot.embedding.hashing import HashingEmbedder
from llmpilot.ingest import Ingestor, IngestReport
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.sources.files import discover_files

KO = """# 배터리 보증 안내

한빛 파워셀 배터리의 보증 기간은 설치일로부터 10년입니다. 보증 기간 동안 용량이 70% 아래로
떨어지면 무상으로 교체해 드립니다.

고객센터 이메일은 help@example.co.kr 이고 전화번호는 010-1234-5678 입니다.
"""
EN = """Support hours

Our support team answers calls from 9 am to 6 pm on weekdays. Outside these hours,
send a message through the app and we reply the next business day.
"""
CSV = (
    "id,question,text\n1,Returns,Unopened products can be returned within 30 days of delivery.\n"
    "2,설치,설치는 공인 기사만 할 수 있으며 보통 반나절이 걸립니다.\n"
)


def make_folder(root: Path) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "warranty-ko.md").write_text(KO, encoding="utf-8")
    (docs / "support.txt").write_text(EN, encoding="utf-8")
    (docs / "faq.csv").write_text(CSV, encoding="utf-8")
    return docs


def make_project(root: Path, **overrides: object) -> Project:
    cfg = {
        "embedder": {"name": "hashing"},
        "chunking": {"method": "recursive", "size": 120, "overlap": 20},
        "index": {"keyword": {"tokenizer": "auto"}},
        "retrieval": {"mode": "hybrid", "top_k": 3},
    }
    cfg.update(overrides)  # type: ignore[arg-type]
    return Project.from_config(root / "project", parse_config(cfg))


def ingest(project: Project, docs: Path, embedder: HashingEmbedder) -> IngestReport:
    found = discover_files([docs])
    return Ingestor(project, embedder=embedder).run(
        found.units, origins=found.origins, errors=found.errors, skipped=found.skipped
    )


def test_incremental_ingest_reembeds_only_what_changed(tmp_path: Path) -> None:
    docs = make_folder(tmp_path)
    project = make_project(tmp_path)
    embedder = HashingEmbedder()

    first = ingest(project, docs, embedder)
    assert first.units_loaded == 3 and first.units_failed == 0
    assert first.documents_written == 4  # two markdown/text pages + two CSV rows
    assert first.passages_embedded == first.chunks_written > 0

    again = ingest(project, docs, embedder)
    assert again.units_unchanged == 3 and again.units_loaded == 0
    assert again.passages_embedded == 0 and again.chunks_written == 0

    (docs / "support.txt").write_text(EN.replace("6 pm", "8 pm"), encoding="utf-8")
    edited = ingest(project, docs, embedder)
    assert edited.units_loaded == 1 and edited.units_unchanged == 2
    chunks, _ = project.store.chunks(project.config.chunks_hash())
    support_chunks = [c for c in chunks if c.doc_id == "docs/support.txt"]
    # Only the edited file's chunks whose text changed were embedded again.
    assert 0 < edited.passages_embedded <= len(support_chunks)
    assert any("8 pm" in c.text for c in support_chunks)

    (docs / "faq.csv").unlink()
    removed = ingest(project, docs, embedder)
    assert removed.units_removed == 1 and removed.documents_removed == 2
    ids = {s.document.id for s in project.store.documents()}
    assert ids == {"docs/warranty-ko.md", "docs/support.txt"}


def test_ingesting_another_folder_does_not_remove_the_first(tmp_path: Path) -> None:
    docs = make_folder(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.md").write_text("# Note\n\nA separate folder about solar panels.", encoding="utf-8")
    project = make_project(tmp_path)
    embedder = HashingEmbedder()
    ingest(project, docs, embedder)
    ingest(project, other, embedder)
    assert len(project.store.documents()) == 5


def test_transforms_redact_pii_and_skip_duplicates(tmp_path: Path) -> None:
    docs = make_folder(tmp_path)
    (docs / "warranty-ko.v2.md").write_text(KO + "\n", encoding="utf-8")
    project = make_project(tmp_path)
    report = ingest(project, docs, HashingEmbedder())
    assert report.duplicates == 1
    stored = {s.document.id: s for s in project.store.documents()}
    ko = stored["docs/warranty-ko.md"]
    assert "help@example.co.kr" not in ko.document.text and "[email]" in ko.document.text
    assert "010-1234-5678" not in ko.document.text and "[phone]" in ko.document.text
    assert ko.document.language == "ko"
    assert stored["docs/support.txt"].document.language == "en"
    dup = stored["docs/warranty-ko.v2.md"]
    assert dup.duplicate_of == "docs/warranty-ko.md"
    chunked = project.store.chunked_state(project.config.chunks_hash())
    assert "docs/warranty-ko.v2.md" not in chunked

    # When the original goes away, the duplicate stands for itself and gets chunked.
    (docs / "warranty-ko.md").unlink()
    ingest(project, docs, HashingEmbedder())
    chunked = project.store.chunked_state(project.config.chunks_hash())
    assert "docs/warranty-ko.v2.md" in chunked


def test_corrupt_file_is_reported_and_the_run_finishes(tmp_path: Path) -> None:
    docs = make_folder(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n%%EOF")
    project = make_project(tmp_path)
    report = ingest(project, docs, HashingEmbedder())
    assert report.units_failed == 1 and report.units_loaded == 3
    assert any("broken.pdf" in p for p in report.problems)
    # A whole file that did not load is a failure (the CLI exits 1), not a row-level warning.
    assert [f.split(": ")[0] for f in report.failed] == [str(docs / "broken.pdf")]
    assert report.warnings == []
    runs = project.store.runs("ingest")
    assert runs[-1]["status"] == "done"


def test_new_chunking_rechunks_from_the_store_and_reuses_embeddings(tmp_path: Path) -> None:
    docs = make_folder(tmp_path)
    embedder = HashingEmbedder()
    project = make_project(tmp_path)
    ingest(project, docs, embedder)
    project.close()
    # Same store, bigger chunks: nothing reloads from disk, every document is re-chunked.
    bigger = make_project(tmp_path, chunking={"method": "recursive", "size": 2000, "overlap": 0})
    report = ingest(bigger, docs, embedder)
    assert report.units_unchanged == 3 and report.units_loaded == 0
    assert report.documents_chunked == 4
    chunks, _ = bigger.store.chunks(bigger.config.chunks_hash())
    assert len(chunks) == 4
    # Back to the first chunking: its chunk set is still there, nothing to embed.
    again = ingest(make_project(tmp_path), docs, embedder)
    assert again.passages_embedded == 0 and again.documents_chunked == 0


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_search_finds_korean_and_english_and_indexes_persist(tmp_path: Path, mode: str) -> None:
    docs = make_folder(tmp_path)
    project = make_project(tmp_path, retrieval={"mode": mode, "top_k": 3})
    embedder = HashingEmbedder()
    ingest(project, docs, embedder)
    pipeline = Pipeline(project, embedder=embedder)
    ko_hits = pipeline.search("배터리 보증 기간")
    en_hits = pipeline.search("support hours on weekdays")
    assert ko_hits[0].chunk.doc_id == "docs/warranty-ko.md"
    assert en_hits[0].chunk.doc_id == "docs/support.txt"
    for hit in ko_hits + en_hits:
        doc = project.store.documents([hit.chunk.doc_id])[0].document
        assert doc.text[hit.chunk.start : hit.chunk.end] == hit.chunk.text
    assert pipeline.indexes.loaded is False  # built on first use
    again = Pipeline(project, embedder=embedder)
    assert again.indexes.loaded is True  # reloaded from the project folder, not rebuilt
    assert [h.chunk.id for h in again.search("배터리 보증 기간")] == [h.chunk.id for h in ko_hits]
