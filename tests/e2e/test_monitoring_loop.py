"""The improvement loop end to end, with real components: a project on disk (sample corpus, keyword
retrieval, the `extractive` answerer — no model to load), served in process, driven through the API
and the CLI exactly as a team would:

ingest → serve → a user's thumbs-down with a correction → review → the eval set grows (with
provenance) → re-optimize on it → shadow comparison on live traffic → promote → the server swaps to
the new config version, and the corrected question is answered from the right source; then a
rollback brings the old version back.

The live config is a plausible mistake for a Korean service: BM25 over whitespace tokens, so "보증기간이"
never matches "보증 기간". The search space offers the Korean tokenizer; nothing tells the optimizer
which one to take except the eval set the loop grew.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from llmpilot.cli import app as cli
from llmpilot.config import update_config_file
from llmpilot.monitoring.evalset import EvalItem, append_eval_item, eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.project import Project
from llmpilot.serving.server import CollectionSpec, build_app
from llmpilot.serving.state import ServerState, ServeSettings
from llmpilot.store.serving import ServingStore
from tests.conftest import create_database
from tests.fixtures.serving import copy_samples

FILES = (
    "warranty.md",
    "support.txt",
    "returns_ko.txt",
    "faq.csv",
    "installation_ko.md",
    "specs_ko.html",
    "safety.html",
)
#: The question a user corrects: whitespace BM25 retrieves the wrong FAQ row for it.
CORRECTED = "보증기간이 어떻게 되나요?"
CORRECTION = "배터리 보증 기간은 10년입니다."
#: A question the live config cannot answer at all (abstains): it joins the queue as "abstained".
ABSTAINED = "에러 코드 E07은 무슨 뜻인가요?"
SPACE = {
    "version": 1,
    "index": {"keyword": {"tokenizer": ["whitespace", "ko"]}},
    "retrieval": {"mode": "keyword", "top_k": 3},
}


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def doc_id(project: Project, suffix: str) -> str:
    [found] = [d.document.id for d in project.store.documents() if d.document.id.endswith(suffix)]
    return found


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loop(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("loop")
    folder = root / "support-ko"
    run_cli("init", "--generator", "extractive", str(folder))
    # The same loop on both backends of the store: the project's SQLite file, or a PostgreSQL database.
    store = (
        {} if request.param == "sqlite" else {"store": create_database(request.getfixturevalue("pg_server"))}
    )
    update_config_file(
        folder / "llmpilot.yaml",
        {
            **store,
            "retrieval": {"mode": "keyword", "top_k": 3},
            "index": {"keyword": {"tokenizer": "whitespace"}},
            # BM25 over whole words scores low: abstain only when nothing matches at all.
            "answer": {"abstain_below": 0.05, "followups": 0},
        },
    )
    docs = copy_samples(root / "docs", FILES)
    run_cli("ingest", "-p", str(folder), str(docs), "--no-progress")
    project = Project.open(folder)
    # The team's own eval set: questions the demo corpus answers, with their source documents.
    for n, (question, suffix) in enumerate(
        [
            ("솔박스 10의 기본 설치비는 얼마인가요?", "installation_ko.md"),
            ("단순 변심으로 반품하면 운송비는 얼마인가요?", "returns_ko.txt"),
            ("솔박스 10의 무게와 정격 출력은?", "specs_ko.html"),
            ("배터리 보증 기간은 몇 년인가요?", "faq-09"),
        ],
        start=1,
    ):
        append_eval_item(
            eval_set_path(project),
            EvalItem(id=f"seed-{n}", question=question, doc_ids=[doc_id(project, suffix)]),
        )
    keys = ServingStore(project.store)
    admin = keys.create_key("default", "admin", "ops")[1]
    users = [keys.create_key("default", "user", f"user{i}")[1] for i in range(3)]
    application = build_app([CollectionSpec(folder)], ServeSettings(rate_limit_per_min=0), ui=False)
    with TestClient(application) as client:
        yield {
            "folder": folder,
            "project": project,
            "client": client,
            "state": application.state.llmpilot,
            "admin": admin,
            "users": users,
            "root": root,
        }
    project.close()


def ask(loop: dict[str, Any], question: str, key: str | None = None) -> dict[str, Any]:
    response = loop["client"].post(
        "/api/ask",
        json={"question": question},
        headers={"Authorization": f"Bearer {key or loop['users'][0]}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cited(answer: dict[str, Any]) -> list[str]:
    return [c["doc_id"] for c in answer["citations"]]


def deployment(loop: dict[str, Any]) -> Any:
    state: ServerState = loop["state"]
    [only] = state.deployments.values()
    return only


def test_the_loop_from_a_correction_to_a_promoted_config(loop: dict[str, Any]) -> None:
    project: Project = loop["project"]
    folder: Path = loop["folder"]
    client: TestClient = loop["client"]
    monitor = MonitorStore(project.store)
    faq_09, safety = doc_id(project, "faq-09"), doc_id(project, "safety.html")
    [v1] = monitor.versions()
    assert v1.status == "live"

    # --- serve: the live config retrieves the wrong FAQ row and cannot answer ----------------------
    wrong = ask(loop, CORRECTED)
    assert wrong["abstained"] and faq_09 not in [s["doc_id"] for s in wrong["sources"]]
    assert monitor.trace_meta(wrong["trace_id"])["config_version"] == v1.id
    unanswered = ask(loop, ABSTAINED)
    assert unanswered["abstained"]

    # --- feedback: thumbs-down, then the correction ------------------------------------------------
    for signal, extra in (("thumbs_down", {}), ("correction", {"correction": CORRECTION})):
        response = client.post(
            "/api/feedback",
            json={"trace_id": wrong["trace_id"], "signal": signal, **extra},
            headers={"Authorization": f"Bearer {loop['users'][0]}"},
        )
        assert response.status_code == 201, response.text

    # --- review: the correction was queued by the server; abstained answers by `review collect` ----
    [queued] = monitor.review_items()
    assert (queued["reason"], queued["proposed_answer"]) == ("correction", CORRECTION)
    assert queued["trace_id"] == wrong["trace_id"]
    run_cli("review", "collect", "-p", str(folder))
    pending = {i["question"]: i for i in json.loads(run_cli("review", "list", "-p", str(folder), "--json"))}
    assert set(pending) == {CORRECTED, ABSTAINED}
    assert pending[ABSTAINED]["reason"] == "abstained"
    # The reviewer confirms the source the correction points to (the proposal is retrieval on the
    # correction with the live config: it may be wrong, which is why a person reviews it).
    run_cli("review", "approve", str(queued["id"]), "-p", str(folder), "--doc-id", faq_09, "--as", "kim")
    run_cli(
        "review", "approve", str(pending[ABSTAINED]["id"]), "-p", str(folder),
        "--answer", "E07은 과열입니다 (내부 온도 60 °C 초과).", "--doc-id", safety, "--as", "kim",
    )  # fmt: skip
    assert monitor.review_items() == []

    # --- the eval set grew, with provenance -------------------------------------------------------
    items = {i.question: i for i in load_eval_set(eval_set_path(project))}
    assert len(items) == 6
    grown = items[CORRECTED]
    assert grown.answer == CORRECTION and grown.doc_ids == [faq_09]
    assert grown.provenance["trace_id"] == wrong["trace_id"]
    assert grown.provenance["approved_by"] == "kim" and grown.provenance["reason"] == "correction"

    # --- re-optimize on the grown eval set: the candidate takes the Korean tokenizer --------------
    space = loop["root"] / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE, allow_unicode=True), encoding="utf-8")
    run_cli(
        "deploy", "reoptimize", "-p", str(folder), "--space", str(space),
        "--out", str(loop["root"] / "study"), "--workdir", str(loop["root"] / "work"), "--no-progress",
    )  # fmt: skip
    [_, v2] = monitor.versions()
    assert v2.status == "candidate"
    candidate_cfg = yaml.safe_load(v2.config_yaml)
    assert candidate_cfg["index"]["keyword"]["tokenizer"] == "ko"
    assert candidate_cfg["generator"]["name"] == "extractive"  # what the space does not vary stays live's

    # --- shadow: live traffic is answered again by the candidate, judged, never shown -------------
    run_cli("deploy", "shadow", str(v2.id), "-p", str(folder))
    deployment(loop).refresh(force=True, wait=True)
    assert deployment(loop).candidate is not None
    for round_ in range(3):
        for question in (CORRECTED, ABSTAINED, "보증기간은요?", "솔박스 10의 무게와 정격 출력은?"):
            answer = ask(loop, question, loop["users"][round_ % 3])
            assert faq_09 not in cited(answer) or question != CORRECTED  # users still get the live answer
    deployment(loop).drain()
    report = json.loads(run_cli("deploy", "report", "-p", str(folder), "--json"))
    assert report["experiment"]["mode"] == "shadow" and report["evidence"]["n_pairs"] == 12
    judge = report["evidence"]["judge"]
    assert judge["candidate_mean"] > judge["live_mean"] and judge["p_value"] < 0.05
    assert report["verdict"] == "promote"
    by_question = {r["question"]: r for r in report["rows"]}
    assert by_question[CORRECTED]["candidate"]["judged_by"] == "reference"
    assert faq_09 in by_question[CORRECTED]["candidate"]["cited_docs"]

    # --- promote: llmpilot.yaml becomes v2, the server swaps, the corrected question is right -----
    run_cli("deploy", "promote", str(v2.id), "-p", str(folder), "--as", "kim")
    assert yaml.safe_load((folder / "llmpilot.yaml").read_text())["index"]["keyword"]["tokenizer"] == "ko"
    deployment(loop).refresh(force=True, wait=True)
    right = ask(loop, CORRECTED)
    assert cited(right)[:1] == [faq_09]
    assert monitor.trace_meta(right["trace_id"])["config_version"] == v2.id
    [promotion] = [d for d in monitor.deployments() if d["action"] == "promote"]
    assert promotion["actor"] == "kim" and promotion["evidence"]["verdict"] == "promote"
    assert monitor.running_experiment() is None

    # --- rollback: the previous version is served again ----------------------------------------
    run_cli("deploy", "rollback", "-p", str(folder))
    deployment(loop).refresh(force=True, wait=True)
    again = ask(loop, CORRECTED)
    assert monitor.trace_meta(again["trace_id"])["config_version"] == v1.id
    assert faq_09 not in cited(again)
    statuses = {v.id: v.status for v in monitor.versions()}
    assert statuses == {v1.id: "live", v2.id: "retired"}  # every version kept
