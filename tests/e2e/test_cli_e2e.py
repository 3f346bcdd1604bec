"""End to end through the CLI, with the real models: e5-small embeddings and SmolLM2 answers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import docx
import pytest

pytestmark = pytest.mark.slow


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "llmpilot", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"llmpilot {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def last_ingest_stats(project: Path) -> dict[str, object]:
    with sqlite3.connect(project / "llmpilot.db") as conn:
        row = conn.execute(
            "SELECT stats_json FROM runs WHERE kind='ingest' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return json.loads(row[0])


def make_mixed_folder(root: Path) -> Path:
    folder = root / "docs"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage without xref\n")
    d = docx.Document()
    d.add_heading("한빛 파워셀 설치 안내", level=1)
    d.add_paragraph("파워셀 배터리는 공인 설치 기사만 설치할 수 있습니다. 설치에는 보통 네 시간이 걸립니다.")
    d.add_paragraph("설치 후 보증 기간은 10년이며 보증서는 이메일로 발송됩니다.")
    d.save(str(folder / "설치-안내.docx"))
    (folder / "support.html").write_text(
        "<html><head><title>Support hours</title><script>var x=1;</script></head><body>"
        "<h1>Support hours</h1><p>Our support line is open from 9 am to 6 pm, Monday to Friday.</p>"
        "<p>Emergency battery shutdowns are handled around the clock.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "faq.csv").write_text(
        "id,question,text\n1,Returns,Unopened products can be returned within 30 days.\n"
        "2,요금,설치 비용은 지역에 따라 다르며 평균 50만 원입니다.\n",
        encoding="utf-8",
    )
    return folder


def test_ingest_search_ask_edit_and_reingest(tmp_path: Path) -> None:
    folder = make_mixed_folder(tmp_path)
    cli("init", "proj", cwd=tmp_path)
    project = tmp_path / "proj"

    first = cli("ingest", "-p", "proj", "docs", "--no-progress", cwd=tmp_path, check=False)
    assert "broken.pdf" in first.stderr  # reported by name, and the run still finished
    assert first.returncode == 1  # ... but a failed file is not a success
    stats = last_ingest_stats(project)
    assert stats["units_loaded"] == 3 and stats["units_failed"] == 1
    assert stats["documents_written"] == 4

    found = json.loads(
        cli("search", "-p", "proj", "설치는 누가 할 수 있나요?", "--json", cwd=tmp_path).stdout
    )
    assert found[0]["doc_id"] == "docs/설치-안내.docx"
    found = json.loads(
        cli("search", "-p", "proj", "when is the support line open", "--json", cwd=tmp_path).stdout
    )
    assert found[0]["doc_id"] == "docs/support.html"

    answer = json.loads(
        cli("ask", "-p", "proj", "When is the support line open?", "--json", cwd=tmp_path).stdout
    )
    assert answer["answer"].strip()
    assert answer["sources"] and answer["sources"][0]["doc_id"] == "docs/support.html"
    assert {"abstained", "reason", "citations", "confidence", "usage"} <= set(answer)
    for citation in answer["citations"]:
        assert 1 <= citation["n"] <= len(answer["sources"])
    streamed = cli("ask", "-p", "proj", "설치 비용은 얼마인가요?", cwd=tmp_path)
    assert "Sources" in streamed.stdout and "[1]" in streamed.stdout

    # Edit one file: only it is loaded and re-embedded.
    html = folder / "support.html"
    html.write_text(html.read_text(encoding="utf-8").replace("6 pm", "8 pm"), encoding="utf-8")
    cli("ingest", "-p", "proj", "docs", "--no-progress", cwd=tmp_path, check=False)  # broken.pdf still fails
    stats = last_ingest_stats(project)
    assert stats["units_loaded"] == 1 and stats["units_unchanged"] == 2
    assert 1 <= stats["passages_embedded"] <= stats["chunks_written"]
    found = json.loads(cli("search", "-p", "proj", "support line open until", "--json", cwd=tmp_path).stdout)
    assert "8 pm" in found[0]["text"]


def test_killed_ingest_resumes_without_duplicates_or_loss(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    n = 240
    for i in range(n):
        lang = "ko" if i % 2 else "en"
        text = (
            f"문서 {i}번: 배터리 모듈 {i}의 점검 기록입니다. 점검자는 기사 {i % 17}번이며 결과는 양호합니다."
            if lang == "ko"
            else f"Record {i}: battery module {i} passed inspection by technician {i % 17} with no faults."
        )
        (folder / f"note-{i:03d}.txt").write_text(text, encoding="utf-8")
    cli("init", "proj", cwd=tmp_path)
    config = tmp_path / "proj" / "llmpilot.yaml"
    # The notes are templated on purpose; near-duplicate removal would (rightly) fold some together.
    config.write_text(
        config.read_text(encoding="utf-8").replace("dedup_near: true", "dedup_near: false"), encoding="utf-8"
    )
    db = tmp_path / "proj" / "llmpilot.db"

    proc = subprocess.Popen(
        [sys.executable, "-m", "llmpilot", "ingest", "-p", "proj", "many", "--no-progress"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    embedded = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                embedded = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        if embedded >= 64:
            break
    assert proc.poll() is None, "ingest finished before it could be interrupted; make the corpus larger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    with sqlite3.connect(db) as conn:
        docs_before = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        cached_before = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert docs_before < n and cached_before >= 64

    cli("ingest", "-p", "proj", "many", "--no-progress", cwd=tmp_path)
    stats = last_ingest_stats(tmp_path / "proj")
    with sqlite3.connect(db) as conn:
        docs = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunk_rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM chunks").fetchone()
        cached = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs WHERE kind='ingest' ORDER BY id")]
    assert docs == n
    assert chunk_rows[0] == chunk_rows[1] == n  # one chunk per short note, none duplicated
    assert cached == n
    # Work done before the kill was kept: the resumed run embedded only what was missing.
    assert stats["passages_embedded"] == n - cached_before
    assert statuses == ["interrupted", "done"]
