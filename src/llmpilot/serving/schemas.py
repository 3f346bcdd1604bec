"""Request and response bodies of the HTTP API (they define the OpenAPI spec; see the serving contract)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmpilot.store.serving import Signal

MAX_QUESTION_CHARS = 4000
MAX_TEXT_CHARS = 20000


def _encodable(value: str | None) -> str | None:
    # JSON may carry lone surrogates ("\ud800"): they cannot be stored or tokenized, so reject them here.
    if value is not None:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text is not valid Unicode (lone surrogate)") from None
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class SessionRequest(Strict):
    key: str = Field(min_length=1, max_length=200)


class SessionInfo(BaseModel):
    tenant: str
    role: Literal["user", "admin"]


class Health(BaseModel):
    status: str


class HistoryTurn(Strict):
    """An earlier turn of the conversation (oldest first in `AskRequest.history`)."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TEXT_CHARS)

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        _encodable(value)
        return value

    def text(self) -> str:
        return self.content


class AskRequest(Strict):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    #: Earlier turns: a follow-up ("and on Sunday?") is searched for condensed with them.
    history: list[HistoryTurn] = Field(default_factory=list, max_length=40)
    collection: str | None = Field(None, max_length=200)
    top_k: int | None = Field(None, ge=1, le=50)
    stream: bool = False
    lang: Literal["ko", "en"] | None = None
    #: False = retrieval only: no generator call, `answer` is "" and `sources` holds the result.
    generate: bool = True
    #: True = answer anew, not from the answer cache (the chat's Regenerate); the new answer is kept.
    fresh: bool = False

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        _encodable(value)
        if not value.strip():
            raise ValueError("question is blank")
        return value

    @field_validator("collection")
    @classmethod
    def _collection(cls, value: str | None) -> str | None:
        return _encodable(value)


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    snippet: str
    start: int
    end: int
    score: float
    #: Extra field: True when assigned after the fact by lexical overlap (the model wrote no [n]).
    attributed: bool = False
    #: Extra field: [start, end] spans in `snippet` (Unicode code points) of the question's terms.
    highlights: list[tuple[int, int]] = Field(default_factory=list)


class Decision(BaseModel):
    """One cache or guardrail decision on the way to an answer (in order)."""

    #: "input", "cache", "documents" or "output".
    stage: str
    #: The rail or cache layer: "injection", "pii", "length", "topic", "indirect_injection",
    #: "profanity", "grounding", "exact", "semantic", "lookup", ...
    name: str
    #: allow / redact / warn / block / abstain (rails); hit / miss / stored / invalidated (cache).
    outcome: str
    score: float | None = None
    latency_ms: float = 0.0
    #: Why, in the question's language for the rails (what the chat shows).
    reason: str = ""
    #: Counts, kinds, matched rule ids, cache entry ids — never the PII itself.
    details: dict[str, Any] = Field(default_factory=dict)


class AskResponse(BaseModel):
    answer: str
    citations: list[CitationOut]
    confidence: float = Field(ge=0.0, le=1.0)
    abstained: bool
    reason: str
    followups: list[str]
    trace_id: str
    # Extra fields beyond the contract:
    sources: list[CitationOut]
    invalid_citations: int
    #: Figures the answer states that no source contains (they also lower `confidence`).
    unsupported_numbers: list[str] = Field(default_factory=list)
    #: Sentences their cited source does not support, uncited ones included (llmpilot.support).
    unsupported_sentences: list[str] = Field(default_factory=list)
    #: Share of the judged sentences that are supported (also a factor of `confidence`).
    support: float = Field(1.0, ge=0.0, le=1.0)
    #: "extractive": the generated answer was unsupported; `answer` quotes the sources instead.
    fallback: str = ""
    #: The first generated answer was weak: the model was asked once more with the strict prompt.
    retried: bool = False
    #: The generated text when it abstained because no sentence was supported ("" otherwise).
    unsupported_text: str = ""
    lang: Literal["ko", "en"]
    latency_ms: dict[str, float]
    #: What retrieval searched for (the question itself on /api/ask).
    search_query: str = ""
    usage: Usage | None = None
    #: "exact" / "semantic" when served from the answer cache, "" when answered now.
    cached: str = ""
    #: True when a guardrail refused the question or the answer (`reason` says why).
    blocked: bool = False
    #: Every cache and guardrail decision, in order.
    decisions: list[Decision] = Field(default_factory=list)


def _needs(signal: str, field: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"signal": {"const": signal}}, "required": ["signal"]},
        "then": {"required": [field], "properties": {field: schema}},
    }


#: The per-signal requirements, in the spec too (JSON Schema if/then), so clients and fuzzers see them.
FEEDBACK_RULES = [
    _needs("rating", "rating", {"type": "integer", "minimum": 1, "maximum": 5}),
    _needs("comment", "comment", {"type": "string", "pattern": "\\S"}),
    _needs("correction", "correction", {"type": "string", "pattern": "\\S"}),
]


class FeedbackRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": FEEDBACK_RULES})  # type: ignore[dict-item]

    trace_id: str = Field(min_length=1, max_length=64)
    signal: Signal
    rating: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    correction: str | None = Field(None, max_length=MAX_TEXT_CHARS)

    @field_validator("trace_id", "comment", "correction")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return _encodable(value)


class FeedbackCreated(BaseModel):
    id: int
    trace_id: str
    signal: str


class FeedbackItem(BaseModel):
    id: int
    trace_id: str
    signal: str
    rating: int | None
    comment: str | None
    correction: str | None
    created_at: str | None
    question: str
    answer: str


class FeedbackList(BaseModel):
    items: list[FeedbackItem]


class Latency(BaseModel):
    retrieve: float
    generate: float
    total: float
    #: Stages that ran (guardrails, cache), in milliseconds, when they did.
    guard_input: float | None = None
    cache: float | None = None
    guard_documents: float | None = None
    guard_output: float | None = None
    cache_store: float | None = None


class TraceItem(BaseModel):
    trace_id: str
    created_at: str | None
    collection: str
    question: str
    answer: str
    abstained: bool
    confidence: float
    latency_ms: Latency
    n_feedback: int


class TraceList(BaseModel):
    items: list[TraceItem]


class TraceDetail(TraceItem):
    reason: str
    citations: list[CitationOut]
    sources: list[CitationOut]
    details: dict[str, Any]
    config_hash: str
    feedback: list[FeedbackItem]


class ReportItem(BaseModel):
    name: str
    url: str


class ReportList(BaseModel):
    items: list[ReportItem]


# --- OpenAI-compatible bodies ----------------------------------------------------------------


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=40)
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool | None = None


class ChatRequest(BaseModel):
    """OpenAI's chat request. Honoured: `temperature`, `max_tokens` (`max_completion_tokens`),
    `stop`, `n` (1 only), `stream_options.include_usage`; sampling fields llmpilot cannot honour are
    rejected with 400 when set to anything but their no-op value (see `openai_api.sampling`)."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool | None = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int | None = Field(None, ge=1, le=128)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    stream_options: StreamOptions | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class RagExtra(BaseModel):
    """The RAG context of a chat completion (extra field `llmpilot`)."""

    trace_id: str
    citations: list[CitationOut]
    sources: list[CitationOut]
    confidence: float
    abstained: bool
    reason: str
    followups: list[str]
    invalid_citations: int
    unsupported_numbers: list[str] = Field(default_factory=list)
    #: Sentence support as on /api/ask (AskResponse); `support` is None where it was not reported.
    unsupported_sentences: list[str] = Field(default_factory=list)
    support: float | None = Field(None, ge=0.0, le=1.0)
    fallback: str = ""
    retried: bool = False
    unsupported_text: str = ""
    #: What retrieval searched for: the last user message, or it condensed with the conversation.
    search_query: str = ""
    #: How the search query was made: "as-is", "rules" or "generator".
    condensed_by: str = "as-is"
    cached: str = ""
    blocked: bool = False
    decisions: list[Decision] = Field(default_factory=list)


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    llmpilot: RagExtra
