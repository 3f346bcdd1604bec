"""HTML routes of the monitoring loop: the dashboard (/admin/monitor) and the review queue
(/admin/review), and the small form handlers behind their buttons.

Like the other pages they read and write through the JSON API in process (auth, tenant scoping and
roles stay in one place). The forms POST to this origin only: the session cookie is SameSite=strict
and each handler also checks the Origin (or Referer) header, so another site cannot submit them.
Charts are inline SVG drawn on the server (llmpilot.monitoring.svg_charts): nothing inline runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from llmpilot.monitoring import svg_charts
from llmpilot.monitoring.svg_charts import Series
from llmpilot.serving.monitor_schemas import MonitorSummary, QualitySeries, ReviewList
from llmpilot.serving.ui import i18n
from llmpilot.serving.ui.api import INTERNAL_TIMEOUT_S, InternalApi, _api_error
from llmpilot.serving.ui.pages import _admin_session, _lang, _page
from llmpilot.serving.ui.render import fmt_ms, fmt_pct

router = APIRouter(include_in_schema=False)

#: The periods the dashboard offers (hours) and how many buckets each is cut into.
WINDOWS = {24: 24, 168: 28, 720: 30}
DEFAULT_WINDOW = 168
REVIEW_STATUSES = ("pending", "approved", "rejected")
MAX_FORM_BYTES = 64 * 1024
#: Chart size in SVG units: about the pixel size of a chart card in the two-column grid, so the
#: charts' 11-unit text is drawn near 11 px.
CHART_WIDTH = 480
CHART_HEIGHT = 250


class InternalCaller(InternalApi):
    """InternalApi plus POST: the form handlers act through the same JSON API as everyone else."""

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
        """(status, error message or "")."""
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(
            transport=transport, base_url=self._base_url, headers=self._headers, timeout=INTERNAL_TIMEOUT_S
        ) as client:
            response = await client.post(path, json=body)
        if 200 <= response.status_code < 300:
            return response.status_code, ""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return response.status_code, _api_error(response.status_code, payload)


def same_origin(request: Request) -> bool:
    """True when the browser says the form came from this site (Origin, else Referer)."""
    expected = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == expected
    referer = request.headers.get("referer")
    return referer is not None and (referer == expected or referer.startswith(expected + "/"))


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (first value of each field); nothing else is read."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


def _msg(t: dict[str, str], key: str, **params: Any) -> str:
    text = t[key]
    for name, value in params.items():
        text = text.replace("{" + name + "}", str(value))
    return text


# --- the dashboard -----------------------------------------------------------------------------


def _window(request: Request) -> int:
    try:
        hours = int(request.query_params.get("hours", DEFAULT_WINDOW))
    except ValueError:
        return DEFAULT_WINDOW
    return hours if hours in WINDOWS else DEFAULT_WINDOW


def _time_label(value: str, hours: int) -> str:
    at = datetime.fromisoformat(value)
    return at.strftime("%H:%M") if hours <= 24 else at.strftime("%m-%d")


def _stage_name(t: dict[str, str], stage: str) -> str:
    return t.get("stage_" + stage, stage)


def dashboard_view(data: MonitorSummary, t: dict[str, str], hours: int) -> dict[str, Any]:
    """The cards, charts (SVG markup) and tables of the dashboard for one summary."""
    labels = [_time_label(b.start, hours) for b in data.buckets]
    common: dict[str, Any] = {
        "x_labels": labels,
        "x_label": t["axis_time_utc"],
        "empty_text": t["chart_empty"],
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }
    charts: list[dict[str, Any]] = []

    def add(chart_id: str, title: str, markup: str) -> None:
        charts.append({"id": chart_id, "title": title, "svg": Markup(markup)})  # svg_charts escapes all text

    b = data.buckets
    add(
        "chart-volume",
        t["chart_volume"],
        svg_charts.bar_chart(
            [
                Series(t["series_answered"], [x.answered for x in b]),
                Series(t["series_abstained"], [x.abstained for x in b]),
            ],
            chart_id="chart-volume",
            title=t["chart_volume"],
            y_label=t["axis_requests"],
            **common,
        ),
    )
    add(
        "chart-rates",
        t["chart_rates"],
        svg_charts.line_chart(
            [
                Series(t["series_abstain_rate"], [x.abstain_rate for x in b]),
                Series(t["series_cache_rate"], [x.cache_rate for x in b]),
                Series(t["series_guard_rate"], [x.guard_rate for x in b]),
            ],
            chart_id="chart-rates",
            title=t["chart_rates"],
            y_label=t["axis_share"],
            y_max=1.0,
            y_format=svg_charts.percent_format,
            **common,
        ),
    )
    for q in ("p50", "p95"):
        chart_id = f"chart-latency-{q}"
        title = t[f"chart_latency_{q}"]
        series = [
            Series(_stage_name(t, stage), [getattr(x.latency_ms[stage], q) for x in b])
            for stage in data.stages
        ]
        add(
            chart_id,
            title,
            svg_charts.line_chart(series, chart_id=chart_id, title=title, y_label=t["axis_ms"], **common),
        )
    add(
        "chart-feedback",
        t["chart_feedback_rate"],
        svg_charts.line_chart(
            [Series(t["series_feedback_rate"], [x.feedback_rate for x in b])],
            chart_id="chart-feedback",
            title=t["chart_feedback_rate"],
            **common,
        ),
    )
    add(
        "chart-sentiment",
        t["chart_sentiment"],
        svg_charts.bar_chart(
            [
                Series(t["series_positive"], [x.positive for x in b]),
                Series(t["series_negative"], [x.negative for x in b]),
            ],
            chart_id="chart-sentiment",
            title=t["chart_sentiment"],
            y_label=t["axis_count"],
            **common,
        ),
    )
    totals = data.totals
    total_latency = totals.latency_ms.get("total")
    version = data.config_version
    cards = [
        {"id": "card-requests", "label": t["card_requests"], "value": f"{totals.requests:,}"},
        {"id": "card-abstain", "label": t["card_abstain_rate"], "value": fmt_pct(totals.abstain_rate) or "–"},
        {
            "id": "card-feedback",
            "label": t["card_feedback_rate"],
            "value": "–" if totals.feedback_rate is None else f"{totals.feedback_rate:.2f}",
        },
        {"id": "card-sentiment", "label": t["card_sentiment"], "value": fmt_pct(totals.sentiment) or "–"},
        {
            "id": "card-latency",
            "label": t["card_p95_total"],
            "value": fmt_ms(total_latency.p95 if total_latency is not None else None) + " ms",
        },
        {
            "id": "card-config",
            "label": t["card_config_version"],
            "value": _msg(t, "config_version_n", n=version.version)
            if version is not None
            else t["config_none"],
            "detail": version.config_hash[:12] if version is not None else "",
        },
    ]
    latency_rows = [
        {
            "stage": _stage_name(t, stage),
            "p50": fmt_ms(stats.p50),
            "p95": fmt_ms(stats.p95),
            "n": stats.n,
        }
        for stage in data.stages
        if (stats := totals.latency_ms.get(stage)) is not None and stats.n
    ]
    return {
        "cards": cards,
        "charts": charts,
        "quality": quality_charts(data.quality, t),
        "latency_rows": latency_rows,
        "alerts": [a.model_dump() for a in data.alerts],
    }


def quality_charts(series: list[QualitySeries], t: dict[str, str]) -> list[dict[str, Any]]:
    """One chart per metric: a line per (run kind, collection) with its confidence band, over the
    runs in time order."""
    by_metric: dict[str, list[QualitySeries]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    charts = []
    for metric, group in sorted(by_metric.items()):
        times = sorted({p.at for s in group for p in s.points})
        position = {at: i for i, at in enumerate(times)}
        lines = []
        for s in group:
            values: list[float | None] = [None] * len(times)
            band: list[tuple[float, float] | None] = [None] * len(times)
            for p in s.points:
                values[position[p.at]] = p.mean
                if p.ci_low is not None and p.ci_high is not None:
                    band[position[p.at]] = (p.ci_low, p.ci_high)
            name = s.kind if len({g.collection for g in group}) == 1 else f"{s.kind} · {s.collection}"
            lines.append(Series(name, values, band))
        chart_id = "quality-" + re.sub(r"[^A-Za-z0-9_-]", "-", metric)
        title = _msg(t, "chart_quality", metric=metric)
        labels = [datetime.fromisoformat(at).strftime("%m-%d %H:%M") for at in times]
        markup = svg_charts.line_chart(
            lines,
            chart_id=chart_id,
            title=title,
            x_labels=labels,
            x_label=t["axis_run"],
            empty_text=t["chart_empty"],
            width=CHART_WIDTH,
            height=CHART_HEIGHT,
        )
        charts.append({"id": chart_id, "title": title, "svg": Markup(markup)})  # svg_charts escapes all text
    return charts


@router.get("/admin/monitor", response_class=HTMLResponse)
async def monitor_page(request: Request) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    return await _render_monitor(request, session)


async def _render_monitor(
    request: Request, session: Any, *, notice: str = "", error: str = "", status: int = 200
) -> Response:
    hours = _window(request)
    t = i18n.page_messages(_lang(request))
    result = await InternalApi(request).get(
        "/api/monitor/summary", MonitorSummary, {"hours": hours, "buckets": WINDOWS[hours]}
    )
    view = dashboard_view(result.data, t, hours) if result.data is not None else None
    return _page(
        request,
        "monitor.html.j2",
        session=session,
        status=status if result.ok else 502,
        view=view,
        summary=result.data,
        hours=hours,
        windows=list(WINDOWS),
        notice=notice or _done_notice(request, t),
        error=error or ("" if result.ok else _msg(t, "action_failed", message=result.error_message)),
    )


def _done_notice(request: Request, t: dict[str, str]) -> str:
    done = request.query_params.get("done")
    item = request.query_params.get("item", "")
    if done == "ack":
        return t["ack_done"]
    if done in ("approved", "rejected") and item.isdigit():
        return _msg(t, f"review_{done}", id=item)
    return ""


@router.post("/admin/monitor/alerts/{alert_id}/ack")
async def acknowledge_alert_form(request: Request, alert_id: int) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    t = i18n.page_messages(_lang(request))
    if not same_origin(request):
        return await _render_monitor(request, session, error=t["bad_origin"], status=403)
    status, message = await InternalCaller(request).post(f"/api/alerts/{alert_id}/ack")
    if status >= 300:
        return await _render_monitor(
            request, session, error=_msg(t, "action_failed", message=message), status=status
        )
    return RedirectResponse(
        "/admin/monitor?" + urlencode({"hours": _window(request), "done": "ack"}), status_code=303
    )


# --- the review queue --------------------------------------------------------------------------


def _review_status(request: Request) -> str:
    status = request.query_params.get("status", "pending")
    return status if status in REVIEW_STATUSES else "pending"


@router.get("/admin/review", response_class=HTMLResponse)
async def review_page(request: Request) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    return await _render_review(request, session)


async def _render_review(
    request: Request, session: Any, *, error: str = "", status: int = 200, status_filter: str | None = None
) -> Response:
    t = i18n.page_messages(_lang(request))
    shown = status_filter or _review_status(request)
    result = await InternalApi(request).get("/api/review", ReviewList, {"status": shown})
    items = [item.model_dump() for item in result.data.items] if result.data is not None else []
    return _page(
        request,
        "review.html.j2",
        session=session,
        status=status if result.ok else 502,
        items=items,
        shown=shown,
        statuses=REVIEW_STATUSES,
        notice=_done_notice(request, t),
        error=error or ("" if result.ok else _msg(t, "action_failed", message=result.error_message)),
    )


def parse_doc_ids(text: str) -> list[str]:
    """Ids typed in a box: separated by commas, spaces or new lines; order kept, repeats dropped."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,]+", text) if part))


@router.post("/admin/review/{item_id}/{action}")
async def review_form(request: Request, item_id: int, action: str) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    t = i18n.page_messages(_lang(request))
    if action not in ("approve", "reject"):
        return await _render_review(
            request, session, error=_msg(t, "action_failed", message=action), status=404
        )
    if not same_origin(request):
        return await _render_review(request, session, error=t["bad_origin"], status=403)
    form = await _form(request)
    body: dict[str, Any] | None = None
    if action == "approve":
        body = {}
        if "answer" in form:
            body["answer"] = form["answer"].strip()
        if "doc_ids" in form:
            body["doc_ids"] = parse_doc_ids(form["doc_ids"])
    status, message = await InternalCaller(request).post(f"/api/review/{item_id}/{action}", body)
    if status >= 300:
        return await _render_review(
            request,
            session,
            error=_msg(t, "action_failed", message=message),
            status=status,
            status_filter="pending",
        )
    done = "approved" if action == "approve" else "rejected"
    return RedirectResponse("/admin/review?" + urlencode({"done": done, "item": item_id}), status_code=303)
