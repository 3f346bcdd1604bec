"""The store's writer lock: one writer at a time across Store objects, threads and processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmpilot.errors import StoreError
from llmpilot.store.db import Store

# A process that takes the writer lock of the store at argv[1] for purpose argv[2], says so, and
# holds it until its stdin closes or it is killed.
HOLDER = """
import sys
from llmpilot.store.db import Store
store = Store.open(sys.argv[1])
with store.writer_lock(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""

HANG_GUARD_S = 120.0  # only bounds a wait that would otherwise hang on a broken lock; never timed


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def holder(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the writer lock for "ingest-elsewhere"."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, "ingest-elsewhere"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_store_object_is_refused_while_the_first_holds_the_lock(url: str) -> None:
    first, second = Store.open(url), Store.open(url)
    with first.writer_lock("ingest"):
        with pytest.raises(StoreError) as exc, second.writer_lock("other ingest", timeout_s=0):
            pass
        message = str(exc.value)
        assert "is being written by ingest (pid " in message and f"pid {os.getpid()} " in message
        assert "run this again" in message
    with second.writer_lock("other ingest", timeout_s=0):  # free again once released
        pass


def lock_from_another_thread(store: Store) -> list[StoreError]:
    """Try the writer lock once, without waiting, from a new thread: what it raised."""
    errors: list[StoreError] = []

    def other_thread() -> None:
        try:
            with store.writer_lock("thread", timeout_s=0):
                pass
        except StoreError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    return errors


def test_the_lock_is_reentrant_within_a_thread_but_not_across_threads(url: str) -> None:
    store = Store.open(url)
    # Nested in one thread: the inner one does not wait for the outer one.
    with store.writer_lock("outer"), store.writer_lock("inner", timeout_s=0):
        errors = lock_from_another_thread(store)
    assert len(errors) == 1 and "outer" in str(errors[0])
    with store.writer_lock("again", timeout_s=0):
        pass


def test_another_process_holding_the_lock_is_named(url: str, holder: subprocess.Popen[str]) -> None:
    store = Store.open(url)
    with (
        pytest.raises(StoreError, match=rf"ingest-elsewhere \(pid {holder.pid} on "),
        store.writer_lock("ingest", timeout_s=0),
    ):
        pass


def test_a_killed_holder_releases_the_lock(url: str, holder: subprocess.Popen[str]) -> None:
    store = Store.open(url)
    with pytest.raises(StoreError), store.writer_lock("ingest", timeout_s=0):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with store.writer_lock("ingest", timeout_s=0):  # no stale lock left behind by kill -9
        pass


def test_a_waiting_writer_says_whom_it_waits_for_and_proceeds_when_released(
    url: str, holder: subprocess.Popen[str], caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(url)
    got_it = threading.Event()

    def wait_for_lock() -> None:
        with store.writer_lock("ingest", timeout_s=HANG_GUARD_S):
            got_it.set()

    caplog.set_level(logging.WARNING, logger="llmpilot.store.lock")
    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    deadline = time.monotonic() + HANG_GUARD_S
    while not any("waiting for the writer lock" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the second writer never reported that it waits"
        time.sleep(0.01)
    assert not got_it.is_set()
    [record] = [r for r in caplog.records if "waiting" in r.getMessage()]
    assert f"held by ingest-elsewhere (pid {holder.pid} on " in record.getMessage()
    assert holder.stdin is not None
    holder.stdin.close()  # the holder finishes and releases
    holder.wait()
    waiter.join(HANG_GUARD_S)
    assert got_it.is_set()


def test_in_memory_store_has_a_lock_too() -> None:
    store = Store.open("sqlite://")
    with store.writer_lock("ingest"):
        errors = lock_from_another_thread(store)
    assert len(errors) == 1 and "ingest" in str(errors[0])
