"""A traffic split on a served app (in process): a sticky share of the callers is answered by the
candidate config version, their traces say so, feedback is counted per arm, and the report decides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llmpilot.monitoring import experiments
from llmpilot.monitoring.deploy import experiment_report, start_experiment
from llmpilot.monitoring.store import MonitorStore
from llmpilot.monitoring.versions import add_candidate
from llmpilot.project import Project
from llmpilot.store.serving import ServingStore
from tests.fixtures.serving import FakeGenerator, keyword_project, make_app

QUESTION = "When is phone support open on Saturday?"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = keyword_project(tmp_path, cache={"enabled": False})
    yield proj
    proj.close()


def test_split_serves_the_candidate_to_its_arm_and_records_it(project: Project) -> None:
    app = make_app(project, FakeGenerator(), tenants=(("acme", "manuals"),))
    store = ServingStore(project.store)
    keys = [store.create_key("acme", "user", f"u{i}") for i in range(12)]
    candidate = add_candidate(project, raw={"retrieval": {"top_k": 2}}, source="fewer sources")
    experiment = start_experiment(project, candidate.id, mode="split", fraction=0.5)
    [deployment] = app.state.llmpilot.deployments.values()
    deployment.refresh(force=True, wait=True)
    monitor = MonitorStore(project.store)
    arms: dict[str, str] = {}
    with TestClient(app) as client:
        for record, key in keys:
            for _ in range(2):  # a caller stays in its arm
                body = client.post(
                    "/api/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {key}"}
                ).json()
                meta = monitor.trace_meta(body["trace_id"])
                assert meta is not None
                expected = experiments.split_arm(experiment, str(record.id), 0.5)
                assert meta["variant"] == expected == arms.setdefault(key, expected)
                assert meta["experiment_id"] == (experiment if expected == "candidate" else None)
                assert meta["config_version"] == (
                    candidate.id if expected == "candidate" else candidate.id - 1
                )
                assert len(body["sources"]) == (2 if expected == "candidate" else 4)
                if expected == "candidate":
                    client.post(
                        "/api/feedback",
                        json={"trace_id": body["trace_id"], "signal": "thumbs_down"},
                        headers={"Authorization": f"Bearer {key}"},
                    )
    assert set(arms.values()) == {"live", "candidate"}
    report = experiment_report(project)
    n_candidate = sum(1 for a in arms.values() if a == "candidate") * 2
    assert report["evidence"]["n_candidate"] == n_candidate
    feedback = report["evidence"]["feedback"]
    assert (
        feedback["candidate"]["negative"] == n_candidate and feedback["candidate"]["answers"] == n_candidate
    )
    assert report["verdict"] in ("keep", "inconclusive")  # every candidate answer got a thumbs-down
