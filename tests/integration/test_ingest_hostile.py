"""Ingest against hostile input (issue 11): paths that cannot be read must never delete stored
documents, and one bad path must not abort the run. Real files, real permissions, real SQLite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llmpilot.embedding.hashing import HashingEmbedder
from llmpilot.ingest import Ingestor, IngestReport
from llmpilot.project import Project
from llmpilot.sources.base import LoadResult, SourceUnit
from llmpilot.sources.files import discover_files

CONFIG = """\
embedder: {name: hashing}
chunking: {method: recursive, size: 200, overlap: 20}
retrieval: {mode: hybrid, top_k: 3}
"""

# Capabilities that let root read and list what its permission bits forbid.
_DAC_CAPS = "dac_override,dac_read_search"


def make_docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "manuals").mkdir(parents=True)
    (docs / "support.txt").write_text("Support answers calls from 9 am to 6 pm on weekdays.", "utf-8")
    (docs / "secret.txt").write_text("The spare key is under the solar panel mount.", "utf-8")
    (docs / "manuals" / "install.md").write_text("# Install\n\nMount the battery on a wall.", "utf-8")
    (docs / "manuals" / "warranty.md").write_text("# Warranty\n\nTen years from installation.", "utf-8")
    return docs


def make_project(root: Path) -> Path:
    folder = root / "project"
    folder.mkdir()
    (folder / "llmpilot.yaml").write_text(CONFIG, encoding="utf-8")
    return folder


def ingest(project: Project, *paths: Path) -> IngestReport:
    found = discover_files(list(paths))
    return Ingestor(project, embedder=HashingEmbedder()).run(
        found.units, origins=found.origins, errors=found.errors, skipped=found.skipped
    )


def stored_ids(project_dir: Path) -> set[str]:
    project = Project.open(project_dir)
    try:
        return {s.document.id for s in project.store.documents()}
    finally:
        project.close()


def unprivileged() -> list[str]:
    """A command prefix under which permission bits are enforced. Root ignores chmod 000, so as
    root the command runs without the capabilities that bypass them (setpriv, util-linux): the
    kernel then refuses the read exactly as for an ordinary user. (runuser -u nobody cannot work
    here: the virtualenv's interpreter lives under /root, which nobody may enter.)"""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv (util-linux): cannot make a file unreadable to root")
    drop = ",".join(f"-{cap}" for cap in _DAC_CAPS.split(","))
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", "--"]


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[list[Path]]:
    """Paths to chmod 000; their permissions are restored afterwards so tmp_path can be removed."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)


def test_unreadable_file_and_folder_are_reported_and_their_documents_kept(
    tmp_path: Path, locked: list[Path]
) -> None:
    docs = make_docs(tmp_path)
    project_dir = make_project(tmp_path)
    project = Project.open(project_dir)
    first = ingest(project, docs)
    project.close()
    assert first.documents_written == 4 and first.problems == []

    prefix = unprivileged()
    for path in (docs / "secret.txt", docs / "manuals"):
        path.chmod(0)
        locked.append(path)
    probe = subprocess.run([*prefix, "cat", str(docs / "secret.txt")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("chmod 000 does not stop reads here even without the DAC capabilities")

    command = [sys.executable, "-m", "llmpilot", "ingest", "--no-progress", "-p", str(project_dir)]
    run = subprocess.run(
        [*prefix, *command, str(docs)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    failed = sorted(line for line in run.stderr.splitlines() if line.startswith("failed:"))
    assert failed == [
        f"failed: {docs / 'manuals'}: cannot read folder: Permission denied; the documents stored from "
        "it are kept. Fix its permissions (e.g. chmod +r) and ingest again",
        f"failed: {docs / 'secret.txt'}: cannot read file: Permission denied; its stored documents are "
        "kept. Fix its permissions (e.g. chmod +r) and ingest again",
    ], run.stderr
    # Nothing was deleted as "gone from disk": the unreadable documents are still stored.
    assert stored_ids(project_dir) == {
        "docs/support.txt",
        "docs/secret.txt",
        "docs/manuals/install.md",
        "docs/manuals/warranty.md",
    }

    # The named folder itself unreadable: everything in it is kept.
    (docs / "manuals").chmod(0o755)
    docs.chmod(0)
    locked.append(docs)
    run = subprocess.run([*prefix, *command, str(docs)], capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"failed: {docs}: cannot read folder: Permission denied" in run.stderr
    assert len(stored_ids(project_dir)) == 4

    # Readable again: the next ingest finds everything unchanged and removes nothing.
    for path in locked:
        path.chmod(0o755 if path.is_dir() else 0o644)
    project = Project.open(project_dir)
    again = ingest(project, docs)
    project.close()
    assert again.failed == [] and again.units_removed == 0 and again.units_unchanged == 4


def test_a_file_that_really_was_deleted_is_still_removed(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    project = Project.open(make_project(tmp_path))
    ingest(project, docs)
    (docs / "secret.txt").unlink()
    report = ingest(project, docs)
    assert report.units_removed == 1 and report.units_kept == 0
    assert "docs/secret.txt" not in {s.document.id for s in project.store.documents()}


def _symlink_loop(docs: Path) -> str:
    (docs / "loop.txt").symlink_to("loop.txt")
    return str(docs / "loop.txt")


def _not_utf8_name(docs: Path) -> str:
    Path(os.fsdecode(os.fsencode(docs) + b"/caf\xe9.txt")).write_text("cafe menu", encoding="utf-8")
    return f"{docs}/caf\\xe9.txt"


def _fifo(docs: Path) -> str:
    os.mkfifo(docs / "x.txt")
    return str(docs / "x.txt")


@pytest.mark.timeout(120)  # the FIFO used to block the run forever: fail rather than hang
@pytest.mark.parametrize("make_bad", [_symlink_loop, _not_utf8_name, _fifo], ids=["loop", "utf8", "fifo"])
def test_one_bad_path_is_reported_and_the_rest_ingests(
    tmp_path: Path, make_bad: Callable[[Path], str]
) -> None:
    docs = make_docs(tmp_path)
    shown = make_bad(docs)
    project = Project.open(make_project(tmp_path))
    report = ingest(project, docs)
    assert [f.split(": ")[0] for f in report.failed] == [shown]
    assert report.documents_written == 4
    assert len(project.store.documents()) == 4
    assert project.store.runs("ingest")[-1]["status"] == "done"


def test_a_loader_that_raises_fails_its_unit_only(tmp_path: Path) -> None:
    """Any exception from a unit's loader (a plugin source, a parser library choking on a file)
    fails that unit, by name; the run goes on."""

    def broken() -> LoadResult:
        raise RecursionError("maximum recursion depth exceeded")

    docs = make_docs(tmp_path)
    project = Project.open(make_project(tmp_path))
    found = discover_files([docs])
    custom = SourceUnit(key="custom:feed", origin="custom", fingerprint=None, loader=broken)
    report = Ingestor(project, embedder=HashingEmbedder()).run(
        [*found.units, custom], origins=found.origins, errors=found.errors
    )
    assert report.failed == ["custom:feed: cannot load it: RecursionError: maximum recursion depth exceeded"]
    assert report.units_failed == 1 and report.documents_written == 4
    assert project.store.runs("ingest")[-1]["status"] == "done"
