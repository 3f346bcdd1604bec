"""Response and request bodies of the monitoring API (/api/monitor, /api/alerts, /api/review)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from llmpilot.serving.schemas import MAX_TEXT_CHARS, Strict

ReviewStatus = Literal["pending", "approved", "rejected"]


class StageLatency(BaseModel):
    p50: float | None
    p95: float | None
    n: int


class BucketStats(BaseModel):
    """Counts and rates of the answers in one time bucket (a rate is null when nothing to divide by)."""

    requests: int
    answered: int
    abstained: int
    abstain_rate: float | None
    cache_hits: int
    cache_rate: float | None
    guard_blocks: int
    guard_rate: float | None
    #: Feedback rows on the bucket's answers; the rate is per answered trace.
    feedback: int
    feedback_rate: float | None
    #: thumbs_up and ratings ≥ 4 / thumbs_down, corrections and ratings ≤ 2.
    positive: int
    negative: int
    #: positive / (positive + negative).
    sentiment: float | None
    latency_ms: dict[str, StageLatency]


class Bucket(BucketStats):
    start: str
    end: str


class Window(BaseModel):
    start: str
    end: str
    hours: float
    buckets: int
    bucket_seconds: float


class QualityPoint(BaseModel):
    run_id: int
    at: str
    config_version: int | None
    mean: float
    ci_low: float | None
    ci_high: float | None
    n: int | None


class QualitySeries(BaseModel):
    kind: str
    collection: str
    metric: str
    points: list[QualityPoint]


class AlertItem(BaseModel):
    id: int
    kind: str
    severity: str
    collection: str
    title: str
    message: str
    evidence: Any
    delivered: Any
    created_at: str | None
    acknowledged_at: str | None


class AlertList(BaseModel):
    items: list[AlertItem]


class LiveVersion(BaseModel):
    version: int
    config_hash: str
    source: str
    note: str
    status: str
    created_by: str
    created_at: str | None


class MonitorSummary(BaseModel):
    tenant: str
    window: Window
    #: True when no answer was served in the window.
    empty: bool
    collections: list[str]
    #: Stages with latency data, in pipeline order ("total" is the whole answer).
    stages: list[str]
    totals: BucketStats
    buckets: list[Bucket]
    quality: list[QualitySeries]
    alerts: list[AlertItem]
    config_version: LiveVersion | None


class ReviewItem(BaseModel):
    id: int
    trace_id: str
    collection: str
    reason: str
    question: str
    answer: str
    proposed_answer: str | None
    proposed_doc_ids: list[str]
    status: str
    reviewer: str | None
    eval_item_id: str | None
    created_at: str | None
    decided_at: str | None


class ReviewList(BaseModel):
    items: list[ReviewItem]


class ApproveRequest(Strict):
    """What the eval item should say: omitted fields keep the proposal (the user's correction and
    the cited documents)."""

    answer: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    #: Item lengths are in the schema (not only in the validator), so schema-valid input is accepted.
    doc_ids: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(None, max_length=50)

    @field_validator("answer")
    @classmethod
    def _answer(cls, value: str | None) -> str | None:
        if value is not None:
            value.encode("utf-8")  # a lone surrogate cannot be stored: reject it as invalid
        return value

    @field_validator("doc_ids")
    @classmethod
    def _doc_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for doc_id in value:
                doc_id.encode("utf-8")
        return value


class ReviewDecision(BaseModel):
    item: ReviewItem
    #: The eval item written on approval (its fields as written to the eval set); null on rejection.
    eval_item: dict[str, Any] | None = None
