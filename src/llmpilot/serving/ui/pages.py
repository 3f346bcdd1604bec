"""HTML routes: login, chat, admin (traces, feedback inbox, reports) and one trace's detail."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from llmpilot.serving.schemas import FeedbackList, ReportList, TraceDetail, TraceList
from llmpilot.serving.ui import i18n, views
from llmpilot.serving.ui.api import InternalApi, Session
from llmpilot.serving.ui.render import render

router = APIRouter(include_in_schema=False)

TRACES_LIMIT = 50
FEEDBACK_LIMIT = 100
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600

# Everything the pages load comes from this origin; nothing inline may run. Styles set from
# script through the CSSOM are allowed by style-src 'self', inline style attributes are not.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _lang(request: Request) -> str:
    return i18n.pick_lang(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def _page(
    request: Request, template: str, *, session: Session | None, status: int = 200, **context: Any
) -> HTMLResponse:
    lang = _lang(request)
    html = render(
        template,
        lang=lang,
        langs=i18n.LANGS,
        lang_names={code: i18n.MESSAGES[code]["lang_name"] for code in i18n.LANGS},
        t=i18n.page_messages(lang),
        js_messages=i18n.script_messages(lang),
        path=request.url.path,
        session=session,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in i18n.LANGS:
        # Remember an explicit choice so links need not carry ?lang= (not a secret: readable is fine).
        response.set_cookie(
            i18n.LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE_S, samesite="lax", httponly=True, path="/"
        )
    return response


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await InternalApi(request).session() is not None:
        return RedirectResponse(next_path, status_code=303)
    return _page(request, "login.html.j2", session=None, next_path=next_path)


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> Response:
    session = await InternalApi(request).session()
    if session is None:
        return _to_login(request)
    return _page(request, "chat.html.j2", session=session)


async def _admin_session(request: Request) -> tuple[Session | None, Response | None]:
    """The admin's session, or the response to send instead (login redirect or the admins-only page)."""
    session = await InternalApi(request).session()
    if session is None:
        return None, _to_login(request)
    if not session.is_admin:
        return session, _page(request, "admins_only.html.j2", session=session, status=403)
    return session, None


@router.get("/admin", response_class=HTMLResponse)
async def admin_page(request: Request) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    api = InternalApi(request)
    traces = await api.get("/api/traces", TraceList, {"limit": TRACES_LIMIT})
    feedback = await api.get("/api/feedback", FeedbackList, {"limit": FEEDBACK_LIMIT})
    reports = await api.get("/api/reports", ReportList)
    trace_rows = views.trace_rows(traces.data)
    errors = [
        (what, result.error_message)
        for what, result in (("traces", traces), ("feedback", feedback), ("reports", reports))
        if not result.ok
    ]
    return _page(
        request,
        "admin.html.j2",
        session=session,
        traces=trace_rows,
        latency_scale=views.latency_scale(trace_rows),
        feedback=views.feedback_rows(feedback.data),
        reports=views.report_rows(reports.data),
        errors=errors,
    )


@router.get("/admin/traces/{trace_id}", response_class=HTMLResponse)
async def trace_page(request: Request, trace_id: str) -> Response:
    session, refusal = await _admin_session(request)
    if refusal is not None:
        return refusal
    result = await InternalApi(request).get("/api/traces/" + quote(trace_id, safe=""), TraceDetail)
    if result.data is None:
        status = 404 if result.status == 404 else 502
        return _page(
            request, "trace.html.j2", session=session, status=status, trace=None, error=result.error_message
        )
    trace = views.trace_detail(result.data)
    return _page(
        request,
        "trace.html.j2",
        session=session,
        trace=trace,
        latency_scale=views.latency_scale([trace]),
        error=None,
    )
