"""The monitoring API and its pages in process (ASGI), over a real project and store: admins only,
tenant scoped; the dashboard summary counts what was served; alerts are acknowledged; review items
are approved into the eval set (with provenance) or rejected, through the JSON API and the HTML forms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llmpilot.monitoring.evalset import eval_set_path, load_eval_set
from llmpilot.monitoring.store import MonitorStore
from llmpilot.pipeline import Pipeline
from llmpilot.project import Project
from llmpilot.serving.app import create_app
from llmpilot.serving.monitor_schemas import AlertList, MonitorSummary, ReviewDecision, ReviewList
from llmpilot.serving.state import Collection, ServeSettings
from llmpilot.store.serving import ServingStore
from tests.fixtures.serving import FakeGenerator, keyword_project

QUESTIONS = (
    "When is phone support open on Saturday?",
    "How many years does the SolBox 10 battery warranty last?",
)
OFF_TOPIC = "Who painted the Mona Lisa?"
ADMIN_ROUTES = (
    ("GET", "/api/monitor/summary"),
    ("GET", "/api/alerts"),
    ("POST", "/api/alerts/1/ack"),
    ("GET", "/api/review"),
    ("POST", "/api/review/1/approve"),
    ("POST", "/api/review/1/reject"),
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    proj = keyword_project(tmp_path_factory.mktemp("monitor-api"), cache={"enabled": False})
    yield proj
    proj.close()


class Keys:
    def __init__(self, project: Project) -> None:
        store = ServingStore(project.store)
        self.admin = store.create_key("acme", "admin", name="alice")[1]
        self.user = store.create_key("acme", "user")[1]
        self.globex = store.create_key("globex", "admin", name="gina")[1]


@pytest.fixture(scope="module")
def keys(project: Project) -> Keys:
    return Keys(project)


@pytest.fixture(scope="module")
def app(project: Project) -> FastAPI:
    gen = FakeGenerator()
    collections = [
        Collection("manuals", "acme", Pipeline(project, generator=gen)),
        Collection("handbook", "globex", Pipeline(project, generator=gen)),
    ]
    return create_app(collections, ServingStore(project.store), ServeSettings(rate_limit_per_min=0), ui=True)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return str(body["error"]["code"])


@pytest.fixture(scope="module")
def traffic(client: TestClient, keys: Keys) -> dict[str, Any]:
    """Three answers and one abstention for acme; one answer for globex; feedback on acme's."""
    answers = [
        client.post("/api/ask", headers=auth(keys.admin), json={"question": q}).json() for q in QUESTIONS * 2
    ]
    off = client.post("/api/ask", headers=auth(keys.admin), json={"question": OFF_TOPIC}).json()
    assert off["abstained"] and not any(a["abstained"] for a in answers)
    client.post("/api/ask", headers=auth(keys.globex), json={"question": QUESTIONS[0]}).raise_for_status()
    first = answers[0]["trace_id"]
    for body in (
        {"signal": "thumbs_down"},
        {"signal": "correction", "correction": "Saturdays 10:00-14:00"},
        {"signal": "rating", "rating": 5},
    ):
        response = client.post("/api/feedback", headers=auth(keys.admin), json={"trace_id": first, **body})
        assert response.status_code == 201, response.text
    return {"answers": answers, "abstained": off}


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admins_only(client: TestClient, keys: Keys, method: str, path: str) -> None:
    assert error_code(client.request(method, path), 401) == "missing_api_key"
    assert error_code(client.request(method, path, headers=auth(keys.user)), 403) == "admin_required"


def test_summary_counts_the_tenants_traffic(client: TestClient, keys: Keys, traffic: dict[str, Any]) -> None:
    response = client.get("/api/monitor/summary", headers=auth(keys.admin), params={"hours": 2, "buckets": 4})
    assert response.status_code == 200, response.text
    summary = MonitorSummary.model_validate(response.json())
    assert summary.tenant == "acme" and summary.collections == ["manuals"] and not summary.empty
    assert len(summary.buckets) == 4 and summary.window.bucket_seconds == 1800.0
    totals = summary.totals
    assert (totals.requests, totals.answered, totals.abstained) == (5, 4, 1)
    assert totals.abstain_rate == pytest.approx(0.2)
    assert (totals.feedback, totals.positive, totals.negative) == (3, 1, 2)
    assert totals.feedback_rate == pytest.approx(3 / 4)
    assert sum(b.requests for b in summary.buckets) == 5
    assert "retrieve" in summary.stages and "total" in summary.stages
    assert totals.latency_ms["total"].n == 5 and totals.latency_ms["total"].p95 is not None

    theirs = MonitorSummary.model_validate(
        client.get("/api/monitor/summary", headers=auth(keys.globex)).json()
    )
    assert theirs.totals.requests == 1 and theirs.totals.feedback == 0

    for bad in ({"hours": 0}, {"buckets": 0}, {"buckets": 100000}, {"hours": "x"}):
        assert error_code(client.get("/api/monitor/summary", headers=auth(keys.admin), params=bad), 422)


def test_alerts_are_listed_per_tenant_and_acknowledged(
    client: TestClient, keys: Keys, project: Project
) -> None:
    monitor = MonitorStore(project.store)
    mine = monitor.add_alert(
        "quality_drop", "critical", "manuals", "rougeL dropped", "0.61 → 0.48", {"p": 0.01}, {}
    )
    theirs = monitor.add_alert("drift", "warning", "handbook", "questions drifted", "", {}, {})

    listed = AlertList.model_validate(client.get("/api/alerts", headers=auth(keys.admin)).json())
    assert [a.id for a in listed.items] == [mine] and listed.items[0].evidence == {"p": 0.01}
    assert (
        error_code(client.post(f"/api/alerts/{theirs}/ack", headers=auth(keys.admin)), 404)
        == "alert_not_found"
    )
    assert (
        error_code(client.post("/api/alerts/999999/ack", headers=auth(keys.admin)), 404) == "alert_not_found"
    )

    acked = client.post(f"/api/alerts/{mine}/ack", headers=auth(keys.admin))
    assert acked.status_code == 200, acked.text
    assert acked.json()["id"] == mine and acked.json()["acknowledged_at"]
    again = client.post(f"/api/alerts/{mine}/ack", headers=auth(keys.admin))
    assert again.status_code == 200 and again.json()["acknowledged_at"] == acked.json()["acknowledged_at"]
    assert client.get("/api/alerts", headers=auth(keys.admin)).json()["items"] == []
    everything = client.get(
        "/api/alerts", headers=auth(keys.admin), params={"include_acknowledged": True}
    ).json()
    assert [a["id"] for a in everything["items"]] == [mine]
    # The other tenant's alert is still open for them.
    assert [a["id"] for a in client.get("/api/alerts", headers=auth(keys.globex)).json()["items"]] == [theirs]


def queue(project: Project, trace_id: str, *, reason: str, proposed: str | None, doc_ids: list[str]) -> int:
    """A pending review item for the trace (the one already queued for it, if any)."""
    item_id, _created = MonitorStore(project.store).add_review_item(
        trace_id=trace_id,
        tenant="acme",
        collection="manuals",
        reason=reason,
        question="q",
        answer="a",
        proposed_answer=proposed,
        proposed_doc_ids=doc_ids,
    )
    return item_id


def test_review_items_are_approved_into_the_eval_set_or_rejected(
    client: TestClient, keys: Keys, project: Project, traffic: dict[str, Any]
) -> None:
    answers = traffic["answers"]
    doc_id = answers[0]["citations"][0]["doc_id"]
    corrected = queue(
        project,
        answers[0]["trace_id"],
        reason="correction",
        proposed="Saturdays 10:00-14:00",
        doc_ids=[doc_id],
    )
    doomed = queue(project, answers[1]["trace_id"], reason="thumbs_down", proposed=None, doc_ids=[])
    bare = queue(project, traffic["abstained"]["trace_id"], reason="abstained", proposed=None, doc_ids=[])

    pending = ReviewList.model_validate(client.get("/api/review", headers=auth(keys.admin)).json())
    assert {corrected, doomed, bare} <= {item.id for item in pending.items}
    assert client.get("/api/review", headers=auth(keys.globex)).json()["items"] == []
    assert error_code(client.get("/api/review", headers=auth(keys.admin), params={"status": "nope"}), 422)

    # Another tenant's item does not exist for them; an unknown one does not exist at all.
    assert error_code(client.post(f"/api/review/{corrected}/approve", headers=auth(keys.globex)), 404)
    assert error_code(client.post("/api/review/999999/reject", headers=auth(keys.admin)), 404)
    # Nothing to put in the eval set: no reference answer and no source document.
    assert error_code(client.post(f"/api/review/{bare}/approve", headers=auth(keys.admin), json={}), 422)
    assert error_code(
        client.post(
            f"/api/review/{bare}/approve", headers=auth(keys.admin), json={"doc_ids": ["no-such-doc"]}
        ),
        422,
    )

    response = client.post(
        f"/api/review/{corrected}/approve",
        headers=auth(keys.admin),
        json={"answer": "Saturdays from 10:00 to 14:00.", "doc_ids": [doc_id]},
    )
    assert response.status_code == 200, response.text
    decision = ReviewDecision.model_validate(response.json())
    assert decision.item.status == "approved" and decision.item.reviewer == "alice"
    assert decision.eval_item is not None and decision.item.eval_item_id
    written = {item.id: item for item in load_eval_set(eval_set_path(project))}
    saved = written[decision.item.eval_item_id]
    assert saved.answer == "Saturdays from 10:00 to 14:00." and saved.doc_ids == [doc_id]
    assert (
        saved.provenance["trace_id"] == answers[0]["trace_id"] and saved.provenance["approved_by"] == "alice"
    )
    assert (
        error_code(client.post(f"/api/review/{corrected}/approve", headers=auth(keys.admin)), 409)
        == "review_item_decided"
    )

    rejected = client.post(f"/api/review/{doomed}/reject", headers=auth(keys.admin))
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["item"]["status"] == "rejected" and rejected.json()["eval_item"] is None
    assert error_code(client.post(f"/api/review/{doomed}/reject", headers=auth(keys.admin)), 409)
    approved = client.get("/api/review", headers=auth(keys.admin), params={"status": "approved"}).json()[
        "items"
    ]
    assert [item["id"] for item in approved] == [corrected]


# --- the pages -----------------------------------------------------------------------------------


@pytest.fixture
def browser(client: TestClient, keys: Keys) -> Iterator[TestClient]:
    """The same app, signed in with the admin's session cookie (as the browser is)."""
    response = client.post("/api/session", json={"key": keys.admin})
    assert response.status_code == 200
    yield client
    client.delete("/api/session")
    client.cookies.clear()


def test_dashboard_page_draws_the_charts_in_both_languages(
    browser: TestClient, traffic: dict[str, Any]
) -> None:
    for lang, heading in (("en", "Monitoring"), ("ko", "모니터링")):
        page = browser.get("/admin/monitor", params={"lang": lang, "hours": 24})
        assert page.status_code == 200, page.text
        assert "style=" not in page.text and "<script>" not in page.text  # the CSP allows neither
        assert f"<h1>{heading}</h1>" in page.text
        assert page.text.count('<svg class="chart chart-') >= 6 and 'class="chart chart-bar"' in page.text
        assert 'id="card-requests"' in page.text
    assert "요청 수" in page.text and "단계별 지연 시간 p95" in page.text


def test_forms_need_this_sites_origin(browser: TestClient, project: Project) -> None:
    alert = MonitorStore(project.store).add_alert("drift", "warning", "manuals", "form alert", "", {}, {})
    foreign = browser.post(f"/admin/monitor/alerts/{alert}/ack", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403
    missing = browser.post(f"/admin/monitor/alerts/{alert}/ack")
    assert missing.status_code == 403
    assert MonitorStore(project.store).alerts(collection="manuals")[0]["acknowledged_at"] is None
    done = browser.post(
        f"/admin/monitor/alerts/{alert}/ack?hours=24",
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/admin/monitor?hours=24&done=ack"
    assert MonitorStore(project.store).alerts(collection="manuals")[0]["acknowledged_at"] is not None


def test_review_page_approves_with_an_edited_answer(
    browser: TestClient, project: Project, traffic: dict[str, Any]
) -> None:
    trace = traffic["answers"][2]
    doc_id = trace["citations"][0]["doc_id"]
    item = queue(project, trace["trace_id"], reason="thumbs_down", proposed=None, doc_ids=[doc_id])
    page = browser.get("/admin/review", params={"lang": "en"})
    assert f'id="review-{item}"' in page.text and 'action="/admin/review/' in page.text
    response = browser.post(
        f"/admin/review/{item}/approve",
        data={"answer": "  Edited answer.  ", "doc_ids": f"{doc_id}, {doc_id}"},
        headers={"Referer": "http://testserver/admin/review"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/review?done=approved&item={item}"
    decided = MonitorStore(project.store).review_item(item)
    assert decided is not None and decided["status"] == "approved"
    assert decided["proposed_answer"] == "Edited answer." and decided["proposed_doc_ids"] == [doc_id]
    shown = browser.get(response.headers["location"])
    assert f"Item {item} was added to the eval set." in shown.text
    # A refusal from the API comes back on the page, with its status.
    again = browser.post(
        f"/admin/review/{item}/reject", headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert again.status_code == 409 and "notice-error" in again.text
