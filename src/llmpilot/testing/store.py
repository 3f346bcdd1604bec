"""The store-of-record contract: what every backend (SQLite, PostgreSQL) must do alike.

Override the `store_url` fixture with the URL of an empty database of your backend; every test opens
it with `Store.open` (which migrates it to head) and exercises the store's owners through their
public methods: documents and chunks (Store), the embedding cache, runs, API keys, traces and
feedback (ServingStore), cached answers (CacheStore), monitoring rows (MonitorStore), the schema at
head and the cross-process writer lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import inspect

from llmpilot.errors import StoreError
from llmpilot.store import schema
from llmpilot.store.db import Store
from llmpilot.store.migrations import MIGRATIONS, applied
from llmpilot.types import Chunk, Document

KOREAN = "서울특별시 강남구의 고객센터는 평일 오전 9시부터 오후 6시까지 운영합니다."


def _docs() -> list[Document]:
    return [
        Document(id="문서-1", text=KOREAN, title="고객센터", metadata={"lang": "ko", "section": "1"}),
        Document(id="doc-2", text="Returns are accepted within 30 days.\n" * 50, title="Returns"),
    ]


class StoreContract:
    """Override `store_url`: a URL of an empty database of the backend under test."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError("override the store_url fixture: return the URL of an empty database")

    @pytest.fixture
    def store(self, store_url: str) -> Iterator[Store]:
        opened = Store.open(store_url)
        yield opened
        opened.close()

    # --- schema ------------------------------------------------------------------------------

    def test_migrates_from_empty_to_head_once(self, store_url: str, store: Store) -> None:
        with store.engine.connect() as conn:
            assert applied(conn) == [name for name, _ in MIGRATIONS]
        again = Store.open(store_url)  # a second open finds nothing to do
        with again.engine.connect() as conn:
            assert applied(conn) == [name for name, _ in MIGRATIONS]
        again.close()

    def test_schema_at_head_is_schema_py(self, store: Store) -> None:
        found = inspect(store.engine)
        tables = set(found.get_table_names())
        assert tables >= set(schema.metadata.tables)
        for name, table in schema.metadata.tables.items():
            columns = {c["name"] for c in found.get_columns(name)}
            assert columns == {c.name for c in table.columns}, name
            primary = found.get_pk_constraint(name)["constrained_columns"]
            assert sorted(primary) == sorted(c.name for c in table.primary_key.columns), name

    # --- documents, chunks, embeddings -------------------------------------------------------

    def test_documents_and_chunks_round_trip(self, store: Store) -> None:
        docs = _docs()
        with store.transaction() as conn:
            store.replace_source(
                conn,
                key="files/a.md",
                origin="files",
                fingerprint="f1",
                transforms_hash="t",
                documents=[(d, f"h-{d.id}", None) for d in docs],
            )
            chunks = [
                Chunk(f"문서-1#{i}", "문서-1", KOREAN[i * 10 : i * 10 + 10], i * 10, i * 10 + 10, i)
                for i in range(3)
            ]
            store.replace_chunks(conn, "set", "문서-1", "h-문서-1", chunks, ["x0", "x1", "x2"])
        stored = {s.document.id: s for s in store.documents()}
        assert stored["문서-1"].document.text == KOREAN
        assert stored["문서-1"].document.metadata == {"lang": "ko", "section": "1"}
        assert stored["doc-2"].document.text == docs[1].text
        assert store.document_owners(["문서-1", "nope"]) == {"문서-1": "files/a.md"}
        got, hashes = store.chunks("set")
        assert [c.id for c in got] == ["문서-1#0", "문서-1#1", "문서-1#2"] and hashes == ["x0", "x1", "x2"]
        assert store.chunked_state("set") == {"문서-1": "h-문서-1"}
        state = store.source_states()["files/a.md"]
        assert (state.origin, state.fingerprint, state.transforms_hash) == ("files", "f1", "t")
        with store.transaction() as conn:
            assert store.delete_source(conn, "files/a.md") == 2
        assert store.documents() == [] and store.chunks("set") == ([], [])

    def test_original_documents_are_kept_in_load_order_until_replaced(self, store: Store) -> None:
        docs = _docs()
        raw = [replace(d, text=d.text + "\n(raw)") for d in reversed(docs)]
        with store.transaction() as conn:
            store.replace_source(
                conn,
                key="files/a.md",
                origin="files",
                fingerprint="f1",
                transforms_hash="t",
                documents=[(d, f"h-{d.id}", None) for d in docs],
                originals=raw,
            )
        assert store.originals() == {"files/a.md": raw}
        # Re-derived documents (originals=None) leave the kept originals as they are.
        with store.transaction() as conn:
            store.replace_source(
                conn,
                key="files/a.md",
                origin="files",
                fingerprint="f1",
                transforms_hash="t2",
                documents=[(docs[0], "h2", None)],
            )
        assert store.originals(["files/a.md", "other"]) == {"files/a.md": raw}
        with store.transaction() as conn:
            store.delete_source(conn, "files/a.md")
        assert store.originals() == {}

    def test_a_failed_transaction_leaves_nothing(self, store: Store) -> None:
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.replace_source(
                conn,
                key="k",
                origin="o",
                fingerprint=None,
                transforms_hash="t",
                documents=[(_docs()[0], "h", None)],
            )
            raise RuntimeError("crash halfway")
        assert store.documents() == [] and store.source_states() == {}

    def test_embedding_cache_keeps_bytes(self, store: Store) -> None:
        rng = np.random.default_rng(0)
        vectors = {f"h{i}": rng.standard_normal(384).astype(np.float32) for i in range(50)}
        store.put_embeddings("e5-small", vectors)
        store.put_embeddings("e5-small", {"h0": vectors["h0"] * 2})  # an existing key is kept
        got = store.cached_embeddings("e5-small", [*vectors, "missing"])
        assert set(got) == set(vectors)
        for key, vector in vectors.items():
            assert got[key].dtype == np.float32 and got[key].tobytes() == vector.tobytes()
        assert store.cached_embeddings("other-model", ["h0"]) == {}

    def test_runs_record_status_and_stats(self, store: Store) -> None:
        run_id = store.start_run("ingest", "c", {"store": "x", "nested": {"k": [1, 2]}})
        store.add_problem(run_id, "a.pdf", "encrypted")
        store.finish_run(run_id, "done", {"documents": 2}, 1.5)
        (run,) = store.runs("ingest")
        assert run["id"] == run_id and run["status"] == "done"

    def test_trials_are_saved_for_resuming(self, store: Store) -> None:
        from types import SimpleNamespace

        from llmpilot.config import PipelineConfig
        from llmpilot.optimization.results import TrialResult
        from llmpilot.optimization.search import TrialLog

        log = TrialLog(SimpleNamespace(store=store), "study-1")  # type: ignore[arg-type]
        result = TrialResult(
            trial_id="t-1",
            config=PipelineConfig(),
            params={"retrieval.top_k": 5},
            n_queries=3,
            per_query={"ndcg@10": {"q1": 1.0, "질문-2": 0.5, "q3": float("nan")}},
            latency_ms_p50=1.5,
            seconds=0.2,
        )
        log.put(result)
        got = log.get("t-1", 3)
        assert got is not None and got.extra == {"resumed": True}
        assert got.per_query["ndcg@10"]["질문-2"] == 0.5 and np.isnan(got.per_query["ndcg@10"]["q3"])
        assert log.get("t-1", 4) is None
        log.clear()
        assert log.get("t-1", 3) is None

    # --- serving: keys, traces, feedback, cached answers --------------------------------------

    def test_keys_traces_and_feedback_are_tenant_scoped(self, store: Store) -> None:
        from llmpilot.store.serving import ServingStore, TraceRecord

        serving = ServingStore(store)
        record, secret = serving.create_key("acme", "admin", "ops")
        found = serving.key_for_secret(secret)
        assert found is not None and found.id == record.id and not found.revoked
        trace = TraceRecord(
            tenant="acme",
            collection="docs",
            question=KOREAN,
            answer="평일 9시부터 6시까지입니다 [1].",
            abstained=False,
            reason="",
            confidence=0.8,
            citations=[{"n": 1, "doc_id": "문서-1"}],
            sources=[{"doc_id": "문서-1"}],
            latency_ms={"total": 3.0},
            details={"retrieval_confidence": 0.9},
            config_hash="h",
        )
        trace_id = serving.add_trace(trace)
        assert serving.has_trace("acme", trace_id) and not serving.has_trace("globex", trace_id)
        assert serving.add_feedback("globex", trace_id, "thumbs_up") is None
        assert serving.add_feedback("acme", trace_id, "correction", correction="정답") is not None
        detail = serving.trace("acme", trace_id)
        assert detail is not None and detail["question"] == KOREAN and len(detail["feedback"]) == 1
        assert [t["n_feedback"] for t in serving.traces("acme")] == [1]
        serving.revoke_key(record.id)
        revoked = serving.key_for_secret(secret)
        assert revoked is not None and revoked.revoked

    def test_cached_answers_round_trip_and_evict(self, store: Store) -> None:
        from llmpilot.cache.store import CacheStore

        cache = CacheStore(store)
        vector = np.ones(8, dtype=np.float32) / np.sqrt(8)
        ids = [
            cache.add(
                "acme",
                "docs",
                "scope",
                question=f"질문 {i}",
                normalized=f"질문 {i}",
                vector=vector,
                features="",
                answer={"answer": f"답 {i}"},
                doc_hashes={"문서-1": "h"},
                max_entries=2,
            )
            for i in range(3)
        ]
        rows = cache.rows("acme", "docs", "scope")
        assert len(rows) == 2  # the least recently used beyond max_entries is evicted
        kept = cache.answer("acme", "docs", ids[-1])
        assert kept is not None and kept.answer == {"answer": "답 2"} and kept.created_at.tzinfo is not None
        assert cache.answer("globex", "docs", ids[-1]) is None
        assert cache.clear("acme") == 2

    # --- monitoring ----------------------------------------------------------------------------

    def test_monitoring_rows_round_trip(self, store: Store) -> None:
        from llmpilot.monitoring.store import MonitorStore
        from llmpilot.store.serving import ServingStore, TraceRecord

        monitor = MonitorStore(store)
        trace = TraceRecord("acme", "docs", KOREAN, "a", True, "low support", 0.1, [], [], {}, {}, "h1")
        trace_id = ServingStore(store).add_trace(trace)
        version = monitor.add_version("h1", "version: 1\n", source="llmpilot.yaml", status="live", by="ops")
        assert monitor.live_version_id() == version.id and monitor.version_by_hash("h1") == version
        alert = monitor.add_alert("quality", "critical", "docs", "drop", "hit@k fell", {"p": 0.001}, {})
        assert [a["id"] for a in monitor.alerts(collection="docs")] == [alert]
        assert monitor.acknowledge_alert(alert)
        item, created = monitor.add_review_item(
            trace_id=trace_id,
            tenant="acme",
            collection="docs",
            reason="thumbs_down",
            question=KOREAN,
            answer="a",
            proposed_answer=None,
            proposed_doc_ids=["문서-1"],
        )
        assert created and monitor.review_item(item) is not None
        job = monitor.queue_job("monitor_run", "sync", {"n": 1})
        assert [j["id"] for j in monitor.queued_jobs("monitor_run")] == [job]
        monitor.finish_jobs([job])
        assert monitor.queued_jobs("monitor_run") == []

    # --- the writer lock -----------------------------------------------------------------------

    def test_writer_lock_excludes_another_store_object(self, store_url: str, store: Store) -> None:
        other = Store.open(store_url)
        try:
            with store.writer_lock("ingest"):
                with store.writer_lock("nested"):  # re-entrant in one thread
                    pass
                outcome: list[BaseException | None] = []

                def second_writer() -> None:
                    try:
                        with other.writer_lock("second ingest", timeout_s=0.3):
                            outcome.append(None)
                    except StoreError as exc:
                        outcome.append(exc)

                thread = threading.Thread(target=second_writer)
                thread.start()
                thread.join()
                assert isinstance(outcome[0], StoreError) and "ingest" in str(outcome[0])
            with other.writer_lock("after release", timeout_s=5):
                pass
        finally:
            other.close()

    def test_timestamps_come_back_aware(self, store: Store) -> None:
        before = datetime.now(UTC)
        run_id = store.start_run("bench", "c", {})
        (run,) = [r for r in store.runs("bench") if r["id"] == run_id]
        started = run["started_at"]
        started = datetime.fromisoformat(started) if isinstance(started, str) else started
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        assert abs((started - before).total_seconds()) < 60
