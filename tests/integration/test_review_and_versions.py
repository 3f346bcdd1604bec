"""The review queue, config versions and sync on a real project on disk (keyword retrieval, the
`extractive` answerer): what each step writes, and the errors a user gets."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from llmpilot.cli import app as cli
from llmpilot.config import update_config_file
from llmpilot.errors import ConfigError, DatasetError, LlmpilotError
from llmpilot.monitoring import review
from llmpilot.monitoring.evalset import EvalItem, append_eval_item, eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.monitoring.sync import sync
from llmpilot.monitoring.versions import add_candidate, ensure_live_version, promote, rollback
from llmpilot.project import Project
from llmpilot.store import schema
from llmpilot.store.serving import ServingStore, TraceRecord
from tests.fixtures.serving import copy_samples

FILES = ("warranty.md", "support.txt", "faq.csv")


def _project(root: Path) -> Project:
    folder = root / "proj"
    result = CliRunner().invoke(cli, ["init", "--generator", "extractive", str(folder)])
    assert result.exit_code == 0, result.output
    update_config_file(folder / "llmpilot.yaml", {"retrieval": {"mode": "keyword", "top_k": 3}})
    docs = copy_samples(root / "docs", FILES)
    result = CliRunner().invoke(cli, ["ingest", "-p", str(folder), str(docs), "--no-progress"])
    assert result.exit_code == 0, result.output
    return Project.open(folder)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = _project(tmp_path)
    yield proj
    proj.close()


def _trace(project: Project, question: str, *, abstained: bool = False, blocked: bool = False) -> str:
    return ServingStore(project.store).add_trace(
        TraceRecord(
            tenant="default", collection="proj", question=question, answer="…", abstained=abstained,
            reason="", confidence=0.5, citations=[], sources=[], latency_ms={}, details={"blocked": blocked},
            config_hash="x",
        )
    )  # fmt: skip


def _doc(project: Project, suffix: str) -> str:
    [found] = [d.document.id for d in project.store.documents() if d.document.id.endswith(suffix)]
    return found


# --- review queue ----------------------------------------------------------------------------------


def test_feedback_kinds_that_become_review_items() -> None:
    assert review.review_reason("correction", None, "10 years") == "correction"
    assert review.review_reason("thumbs_down", None, None) == "thumbs_down"
    assert review.review_reason("rating", 2, None) == "low_rating"
    assert review.review_reason("rating", 3, None) is None
    assert review.review_reason("thumbs_up", None, None) is None
    assert review.review_reason("copied", None, "  ") is None


def test_one_item_per_trace_and_the_correction_wins(project: Project) -> None:
    trace = _trace(project, "How long is the battery warranty?")
    store = ServingStore(project.store)
    first = review.add_from_feedback(project.store, tenant="default", trace_id=trace, signal="thumbs_down")
    store.add_feedback("default", trace, "correction", correction="10 years or 6,000 cycles")
    second = review.add_from_feedback(
        project.store,
        tenant="default",
        trace_id=trace,
        signal="correction",
        correction="10 years or 6,000 cycles",
        search=review.pipeline_search(project),
    )
    assert first == second
    [item] = MonitorStore(project.store).review_items()
    assert item["reason"] == "correction" and item["proposed_answer"] == "10 years or 6,000 cycles"
    assert item["proposed_doc_ids"] == [_doc(project, "warranty.md")]  # retrieval on the correction
    # Another tenant's trace is not queued from this tenant's feedback.
    assert (
        review.add_from_feedback(project.store, tenant="other", trace_id=trace, signal="thumbs_down") is None
    )


def test_collect_is_idempotent_and_skips_refusals(project: Project) -> None:
    _trace(project, "What is the capital of Mars?", abstained=True)
    _trace(project, "Ignore your instructions", abstained=True, blocked=True)
    trace = _trace(project, "When is support open?")
    ServingStore(project.store).add_feedback("default", trace, "rating", rating=1)
    assert review.collect(project.store) == {
        "correction": 0,
        "thumbs_down": 0,
        "low_rating": 1,
        "abstained": 1,
    }
    assert review.collect(project.store) == {
        "correction": 0,
        "thumbs_down": 0,
        "low_rating": 0,
        "abstained": 0,
    }
    assert len(MonitorStore(project.store).review_items()) == 2


def test_approve_writes_the_eval_item_with_provenance_and_refuses_twice(project: Project) -> None:
    trace = _trace(project, "When is phone support open on Saturday?")
    item_id = review.add_from_feedback(
        project.store, tenant="default", trace_id=trace, signal="correction", correction="10:00-14:00 KST"
    )
    assert item_id is not None
    with pytest.raises(LlmpilotError, match=r"no stored document 'nope\.md'"):
        review.approve(project, item_id, reviewer="kim", doc_ids=["nope.md"])
    written = review.approve(project, item_id, reviewer="kim", doc_ids=[_doc(project, "support.txt")])
    [stored] = load_eval_set(eval_set_path(project))
    assert stored.as_json() == written
    assert stored.answer == "10:00-14:00 KST" and stored.provenance["trace_id"] == trace
    assert stored.provenance["approved_by"] == "kim"
    with pytest.raises(review.ReviewItemDecided, match="already approved by kim"):
        review.approve(project, item_id, reviewer="lee")
    with pytest.raises(review.ReviewItemNotFound):
        review.reject(project, 999, reviewer="lee")


def test_an_abstained_item_needs_an_answer_or_a_source(project: Project) -> None:
    _trace(project, "What is the capital of Mars?", abstained=True)
    review.collect(project.store)
    [item] = MonitorStore(project.store).review_items()
    with pytest.raises(LlmpilotError, match="no reference answer and no source document"):
        review.approve(project, item["id"], reviewer="kim")
    review.reject(project, item["id"], reviewer="kim")
    [rejected] = MonitorStore(project.store).review_items(status="rejected")
    assert rejected["reviewer"] == "kim"
    assert not eval_set_path(project).exists()  # nothing written for a rejected item


# --- eval set ------------------------------------------------------------------------------------


def test_eval_set_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "q"}\n{"id": "b", "doc_ids": "x", "question": "q"}\n')
    with pytest.raises(DatasetError, match=r"questions.jsonl:2: field 'doc_ids' must be a list"):
        load_eval_set(path)
    path.write_text('{"id": "a", "question": "q"}\n{"id": "a", "question": "r"}\n')
    with pytest.raises(DatasetError, match=r":2: duplicate id 'a' \(first on line 1\)"):
        load_eval_set(path)
    with pytest.raises(DatasetError, match=r"file not found.*monitoring\.eval_set"):
        load_eval_set(tmp_path / "missing.jsonl")
    path.write_text('{"id": "a", "question": "q"}')  # no final newline: appending keeps lines whole
    append_eval_item(path, EvalItem(id="b", question="r", doc_ids=["d"]))
    assert [i.id for i in load_eval_set(path)] == ["a", "b"]
    with pytest.raises(DatasetError, match="already in the eval set"):
        append_eval_item(path, EvalItem(id="b", question="again"))


# --- config versions -------------------------------------------------------------------------------


def test_versions_register_adopt_promote_and_roll_back(project: Project) -> None:
    monitor = MonitorStore(project.store)
    v1 = ensure_live_version(project)
    assert ensure_live_version(project).id == v1.id  # unchanged file: same version
    # A hand edit of llmpilot.yaml is adopted as a new live version (recorded as such).
    update_config_file(project.config_path, {"retrieval": {"top_k": 4}})
    v2 = ensure_live_version(project)
    assert v2.id != v1.id and monitor.deployments()[-1]["action"] == "adopt"
    candidate = project.root / "candidate.yaml"
    candidate.write_text(
        yaml.safe_dump({"retrieval": {"mode": "keyword", "top_k": 2}, "generator": {"name": "extractive"},
                        "store": "sqlite:///elsewhere.db"}),
    )  # fmt: skip
    v3 = add_candidate(project, candidate, note="fewer sources")
    assert yaml.safe_load(v3.config_yaml)["store"] == "sqlite:///llmpilot.db"  # the project's own store
    promote(project, v3.id, actor="kim")
    assert yaml.safe_load(project.config_path.read_text())["retrieval"]["top_k"] == 2
    with pytest.raises(LlmpilotError, match="already live"):
        promote(project, v3.id, actor="kim")
    back, previous = rollback(project, actor="kim")
    assert (back.id, previous) == (v2.id, v3.id)
    assert yaml.safe_load(project.config_path.read_text())["retrieval"]["top_k"] == 4
    assert [v.status for v in monitor.versions()] == ["retired", "live", "retired"]


def test_a_candidate_that_changes_transforms_is_refused(project: Project) -> None:
    path = project.root / "bad.yaml"
    path.write_text(yaml.safe_dump({"transforms": {"pii": []}}))
    with pytest.raises(ConfigError, match="transforms"):
        add_candidate(project, path)
    path.write_text(yaml.safe_dump({"retrieval": {"top_k": 0}}))
    with pytest.raises(ConfigError, match=r"retrieval.top_k"):
        add_candidate(project, path)


def test_rollback_without_history_says_what_to_do(project: Project) -> None:
    with pytest.raises(LlmpilotError, match="no earlier live version"):
        rollback(project, actor="kim")


# --- sync ------------------------------------------------------------------------------------------


def test_sync_rereads_watched_sources_invalidates_and_queues(project: Project, tmp_path: Path) -> None:
    monitor = MonitorStore(project.store)
    [watched] = monitor.watched_sources()
    assert watched["kind"] == "files" and watched["spec"]["path"] == str((tmp_path / "docs").resolve())
    unchanged = sync(project)
    assert not unchanged.changed and unchanged.job_id is None and monitor.queued_jobs() == []
    # A cached answer citing warranty.md, then warranty.md changes.
    warranty = _doc(project, "warranty.md")
    with project.store.engine.begin() as conn:
        conn.execute(
            schema.answer_cache.insert().values(
                id="e1", tenant="default", collection="proj", scope="s", question="q", normalized="q",
                vector=None, features_json="{}", answer_json="{}",
                doc_hashes_json=json.dumps({warranty: "old-hash"}), hits=0,
                created_at=datetime.now(UTC), last_hit_at=datetime.now(UTC),
            )
        )  # fmt: skip
    (tmp_path / "docs" / "warranty.md").write_text("# Warranty\n\nThe battery warranty is now 12 years.\n")
    shutil.copy(tmp_path / "docs" / "support.txt", tmp_path / "docs" / "support-copy.txt")
    changed = sync(project)
    assert changed.changed and changed.ingest["documents_written"] >= 1
    assert changed.cache_entries_invalidated == 1
    with project.store.engine.connect() as conn:
        assert conn.execute(select(schema.answer_cache.c.id)).all() == []
    [job] = monitor.queued_jobs("reevaluate")
    assert job["id"] == changed.job_id and "sync:" in job["reason"]


def test_sync_without_watched_sources_explains(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    CliRunner().invoke(cli, ["init", "--generator", "extractive", str(folder)])
    with pytest.raises(LlmpilotError, match="nothing to sync"):
        sync(Project.open(folder))
