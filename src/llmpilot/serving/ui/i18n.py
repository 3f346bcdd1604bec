"""Every UI string, one dictionary per language, and the choice of language for a request.

Templates read `t.KEY`; strings the browser script needs go to it as JSON (the `js.` keys).
Both dictionaries must have the same keys (a unit test checks it).
"""

from __future__ import annotations

from typing import Final

LANGS: Final = ("en", "ko")
DEFAULT_LANG: Final = "en"
LANG_COOKIE: Final = "llmpilot_lang"

EN: Final[dict[str, str]] = {
    "app_name": "llmpilot",
    "lang_name": "English",
    "lang_switch": "Language",
    "skip_to_content": "Skip to content",
    "nav_chat": "Chat",
    "nav_admin": "Admin",
    "sign_out": "Sign out",
    "signed_in_as": "Signed in as",
    # login
    "login_title": "Sign in",
    "login_intro": "Paste the API key you were given (it starts with lp_). It is sent once and kept in a "
    "secure session cookie.",
    "login_key_label": "API key",
    "login_submit": "Sign in",
    "login_failed": "That key was not accepted. Check it and try again.",
    "login_empty": "Paste a key first.",
    # chat
    "chat_title": "Ask your documents",
    "chat_intro": "Answers come only from the ingested documents, with numbered sources. "
    "When the documents do not support an answer, the assistant says so.",
    "question_label": "Your question",
    "question_hint": "Enter sends, Shift+Enter adds a line.",
    "question_placeholder": "e.g. How long is the battery warranty?",
    "ask": "Ask",
    "empty_transcript": "No questions yet.",
    # admin
    "admin_title": "Admin",
    "admins_only_title": "Admins only",
    "admins_only_body": "This area is for the tenant's admins. Your key has the role “{role}”.",
    "back_to_chat": "Back to chat",
    "traces_title": "Recent traces",
    "traces_empty": "No traces yet.",
    "col_time": "Time",
    "col_question": "Question",
    "col_collection": "Collection",
    "col_latency": "Latency (ms)",
    "col_confidence": "Confidence",
    "col_abstained": "Abstained",
    "col_feedback": "Feedback",
    "col_details": "Details",
    "col_signal": "Signal",
    "col_rating": "Rating",
    "col_comment": "Comment",
    "col_correction": "Correction",
    "col_answer": "Answer",
    "stage_retrieve": "retrieve",
    "stage_generate": "generate",
    "stage_total": "total",
    "yes": "yes",
    "no": "no",
    "open_trace": "Open",
    "feedback_title": "Feedback inbox",
    "feedback_empty": "No feedback yet.",
    "reports_title": "Evaluation reports",
    "reports_empty": "No reports found under the project's reports/ folder.",
    "load_error": "Could not load {what}: {message}",
    "trace_title": "Trace",
    "trace_not_found": "No such trace.",
    "trace_reason": "Reason",
    "trace_decisions": "Cache and guardrail decisions",
    "decision_stage": "Stage",
    "decision_name": "Rail / layer",
    "decision_outcome": "Outcome",
    "decisions_empty": "No cache or guardrail ran for this answer.",
    "trace_citations": "Citations",
    "trace_sources": "Retrieved sources",
    "trace_feedback": "Feedback on this trace",
    "back_to_admin": "Back to admin",
    "doc_id": "Document",
    "score": "score",
    # strings for the chat script
    "js.thinking": "Searching the documents…",
    "js.sources": "Sources",
    "js.source_title": "Title",
    "js.source_doc": "Document id",
    "js.source_snippet": "Snippet",
    "js.confidence": "Confidence",
    "js.conf_high": "high",
    "js.conf_medium": "medium",
    "js.conf_low": "low",
    "js.abstained": "No answer from the documents",
    "js.reason": "Reason",
    "js.unsupported": "Check these figures — not found in the sources:",
    "js.unsupported_sentences": "Check these sentences — the cited sources do not support them:",
    "js.unsupported_answer": "The model's answer, not supported by the sources (do not rely on it):",
    "js.quoted": "Quoted from the sources: the model's own answer was not supported by them.",
    "js.retried": "Answered on a second, stricter try: the first answer was not supported by the sources.",
    "js.blocked": "Refused by the service's safety rules",
    "js.cached_exact": "Answered from the cache: the same question was answered before.",
    "js.cached_semantic": "Answered from the cache: a question with the same meaning was answered before.",
    "js.guard_redacted": "Personal information was masked before it was processed or stored.",
    "js.guard_warned": "A safety rule flagged this exchange:",
    "js.guard_neutralised": "Instructions hidden in a retrieved document were ignored.",
    "js.followups": "Follow-up questions",
    "js.helpful": "Was this helpful?",
    "js.thumbs_up": "Helpful",
    "js.thumbs_down": "Not helpful",
    "js.copy": "Copy answer",
    "js.copied": "Answer copied.",
    "js.regenerate": "Regenerate",
    "js.correction": "Suggest a correction",
    "js.correction_label": "Corrected answer",
    "js.correction_submit": "Send correction",
    "js.correction_empty": "Write the corrected answer first.",
    "js.thanks": "Thanks, your feedback was saved.",
    "js.feedback_failed": "Feedback could not be saved: {message}",
    "js.error": "Something went wrong: {message}",
    "js.session_expired": "Your session has ended. Sign in again.",
    "js.sign_in": "Sign in again",
    "js.you": "You",
    "js.assistant": "Assistant",
}

KO: Final[dict[str, str]] = {
    "app_name": "llmpilot",
    "lang_name": "한국어",
    "lang_switch": "언어",
    "skip_to_content": "본문으로 건너뛰기",
    "nav_chat": "채팅",
    "nav_admin": "관리",
    "sign_out": "로그아웃",
    "signed_in_as": "로그인 계정",
    "login_title": "로그인",
    "login_intro": "발급받은 API 키(lp_로 시작)를 붙여 넣으세요. "
    "키는 한 번만 전송되고 보안 세션 쿠키로 유지됩니다.",
    "login_key_label": "API 키",
    "login_submit": "로그인",
    "login_failed": "키가 승인되지 않았습니다. 확인 후 다시 시도하세요.",
    "login_empty": "먼저 키를 붙여 넣으세요.",
    "chat_title": "문서에 질문하기",
    "chat_intro": "답변은 수집된 문서에서만 나오며 번호가 매겨진 출처가 함께 표시됩니다. "
    "문서가 답을 뒷받침하지 않으면 그렇다고 알려 드립니다.",
    "question_label": "질문",
    "question_hint": "Enter 키로 보내고 Shift+Enter로 줄을 바꿉니다.",
    "question_placeholder": "예: 배터리 보증 기간은 얼마나 되나요?",
    "ask": "질문하기",
    "empty_transcript": "아직 질문이 없습니다.",
    "admin_title": "관리",
    "admins_only_title": "관리자 전용",
    "admins_only_body": "이 영역은 테넌트 관리자만 볼 수 있습니다. 현재 키의 역할은 “{role}”입니다.",
    "back_to_chat": "채팅으로 돌아가기",
    "traces_title": "최근 트레이스",
    "traces_empty": "아직 트레이스가 없습니다.",
    "col_time": "시각",
    "col_question": "질문",
    "col_collection": "컬렉션",
    "col_latency": "지연 시간(ms)",
    "col_confidence": "신뢰도",
    "col_abstained": "답변 보류",
    "col_feedback": "피드백",
    "col_details": "상세",
    "col_signal": "신호",
    "col_rating": "평점",
    "col_comment": "의견",
    "col_correction": "수정 답변",
    "col_answer": "답변",
    "stage_retrieve": "검색",
    "stage_generate": "생성",
    "stage_total": "전체",
    "yes": "예",
    "no": "아니요",
    "open_trace": "열기",
    "feedback_title": "피드백 수신함",
    "feedback_empty": "아직 피드백이 없습니다.",
    "reports_title": "평가 보고서",
    "reports_empty": "프로젝트의 reports/ 폴더에 보고서가 없습니다.",
    "load_error": "{what}을(를) 불러오지 못했습니다: {message}",
    "trace_title": "트레이스",
    "trace_not_found": "해당 트레이스가 없습니다.",
    "trace_reason": "사유",
    "trace_decisions": "캐시·가드레일 결정",
    "decision_stage": "단계",
    "decision_name": "규칙 / 계층",
    "decision_outcome": "결과",
    "decisions_empty": "이 답변에는 캐시나 가드레일이 실행되지 않았습니다.",
    "trace_citations": "인용",
    "trace_sources": "검색된 출처",
    "trace_feedback": "이 트레이스의 피드백",
    "back_to_admin": "관리 화면으로 돌아가기",
    "doc_id": "문서",
    "score": "점수",
    "js.thinking": "문서를 검색하는 중…",
    "js.sources": "출처",
    "js.source_title": "제목",
    "js.source_doc": "문서 ID",
    "js.source_snippet": "발췌",
    "js.confidence": "신뢰도",
    "js.conf_high": "높음",
    "js.conf_medium": "보통",
    "js.conf_low": "낮음",
    "js.abstained": "문서에서 답을 찾지 못했습니다",
    "js.reason": "사유",
    "js.unsupported": "출처에서 찾을 수 없는 수치입니다. 확인하세요:",
    "js.unsupported_sentences": "인용된 출처로 뒷받침되지 않는 문장입니다. 확인하세요:",
    "js.unsupported_answer": "출처로 뒷받침되지 않는 모델의 답변입니다 (그대로 믿지 마세요):",
    "js.quoted": "출처 문장을 그대로 인용한 답변입니다. 모델의 답변은 출처로 뒷받침되지 않았습니다.",
    "js.retried": "첫 답변이 출처로 뒷받침되지 않아, 더 엄격한 지시로 다시 만든 답변입니다.",
    "js.blocked": "서비스 안전 정책에 따라 처리하지 않았습니다",
    "js.cached_exact": "캐시된 답변입니다: 같은 질문에 대한 이전 답변을 그대로 보여 드립니다.",
    "js.cached_semantic": "캐시된 답변입니다: 같은 뜻의 질문에 대한 이전 답변을 보여 드립니다.",
    "js.guard_redacted": "개인정보는 처리·저장 전에 가려졌습니다.",
    "js.guard_warned": "안전 규칙이 이 대화를 표시했습니다:",
    "js.guard_neutralised": "검색된 문서에 숨겨진 지시문은 무시했습니다.",
    "js.followups": "후속 질문",
    "js.helpful": "도움이 되었나요?",
    "js.thumbs_up": "도움이 됨",
    "js.thumbs_down": "도움이 안 됨",
    "js.copy": "답변 복사",
    "js.copied": "답변을 복사했습니다.",
    "js.regenerate": "다시 생성",
    "js.correction": "수정 답변 제안",
    "js.correction_label": "올바른 답변",
    "js.correction_submit": "수정 답변 보내기",
    "js.correction_empty": "먼저 올바른 답변을 작성하세요.",
    "js.thanks": "감사합니다. 피드백이 저장되었습니다.",
    "js.feedback_failed": "피드백을 저장하지 못했습니다: {message}",
    "js.error": "문제가 발생했습니다: {message}",
    "js.session_expired": "세션이 만료되었습니다. 다시 로그인하세요.",
    "js.sign_in": "다시 로그인",
    "js.you": "나",
    "js.assistant": "어시스턴트",
}

MESSAGES: Final[dict[str, dict[str, str]]] = {"en": EN, "ko": KO}


def parse_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (by q-value, then order), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGS and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def pick_lang(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """?lang= wins, then the remembered choice, then the browser's Accept-Language, then English."""
    for candidate in (query, cookie):
        if candidate in LANGS:
            return candidate
    return parse_accept_language(accept_language) or DEFAULT_LANG


def page_messages(lang: str) -> dict[str, str]:
    """Strings for templates (every key)."""
    return MESSAGES[lang]


def script_messages(lang: str) -> dict[str, str]:
    """Strings the browser script needs, without the `js.` prefix."""
    return {key[3:]: value for key, value in MESSAGES[lang].items() if key.startswith("js.")}
