from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from payments.db import utcnow, write_transaction
from payments.errors import (
    IdempotencyConflictError,
    IdempotencyInProgressError,
    InvalidRequestError,
)
from payments.idempotency import IdempotencyStore, request_hash


@dataclass
class Result:
    value: int
    note: str


def test_same_key_same_params_returns_stored_result(engine: Engine) -> None:
    store = IdempotencyStore(engine)
    calls: list[int] = []

    def op() -> Result:
        calls.append(1)
        return Result(len(calls), "first")

    first = store.run("capture", "k1", {"amount": 5}, op, Result)
    again = store.run("capture", "k1", {"amount": 5}, op, Result)
    assert first == again == Result(1, "first")
    assert len(calls) == 1
    # another scope is another operation
    assert store.run("refund", "k1", {"amount": 5}, op, Result).value == 2


def test_same_key_different_params_is_an_error(engine: Engine) -> None:
    store = IdempotencyStore(engine)
    store.run("capture", "k1", {"amount": 5}, lambda: Result(1, ""), Result)
    with pytest.raises(IdempotencyConflictError):
        store.run("capture", "k1", {"amount": 6}, lambda: Result(2, ""), Result)


def test_failure_releases_the_key(engine: Engine) -> None:
    store = IdempotencyStore(engine)

    def boom() -> Result:
        raise RuntimeError("processor exploded")

    with pytest.raises(RuntimeError):
        store.run("capture", "k1", {"a": 1}, boom, Result)
    assert store.run("capture", "k1", {"a": 1}, lambda: Result(7, ""), Result).value == 7


def test_bad_keys_and_short_retention_rejected(engine: Engine) -> None:
    store = IdempotencyStore(engine)
    with pytest.raises(InvalidRequestError):
        store.run("s", "", {}, lambda: Result(1, ""), Result)
    with pytest.raises(InvalidRequestError):
        store.run("s", "x" * 201, {}, lambda: Result(1, ""), Result)
    with pytest.raises(InvalidRequestError):
        IdempotencyStore(engine, retention=timedelta(hours=23))


def test_concurrent_calls_with_one_key_run_once(engine: Engine) -> None:
    store = IdempotencyStore(engine)
    runs: list[int] = []
    results: list[Result] = []
    barrier = threading.Barrier(5)

    def op() -> Result:
        runs.append(1)
        time.sleep(0.2)  # keep the claim held while the others arrive
        return Result(42, "once")

    def caller() -> None:
        barrier.wait()
        results.append(store.run("hold", "same", {"amount": 1}, op, Result))

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1
    assert results == [Result(42, "once")] * 5


def test_waiter_gives_up_on_a_running_claim(engine: Engine) -> None:
    store = IdempotencyStore(engine, wait_timeout=0.2)
    started = threading.Event()
    release = threading.Event()

    def slow() -> Result:
        started.set()
        release.wait(5)
        return Result(1, "")

    t = threading.Thread(target=lambda: store.run("s", "k", {}, slow, Result))
    t.start()
    started.wait(5)
    with pytest.raises(IdempotencyInProgressError):
        store.run("s", "k", {}, lambda: Result(2, ""), Result)
    release.set()
    t.join()


def test_stale_claim_is_taken_over(engine: Engine) -> None:
    store = IdempotencyStore(engine, lease=timedelta(seconds=0))
    # a crashed owner: the claim was committed but never completed
    with write_transaction(engine) as session:
        assert store.claim(session, "s", "k2", request_hash({})) is None
    assert store.run("s", "k2", {}, lambda: Result(3, "took over"), Result).note == "took over"


def test_live_claim_is_not_taken_over(engine: Engine) -> None:
    store = IdempotencyStore(engine, wait_timeout=0.1)
    with write_transaction(engine) as session:
        assert store.claim(session, "s", "k", request_hash({})) is None
    with pytest.raises(IdempotencyInProgressError):
        store.run("s", "k", {}, lambda: Result(1, ""), Result)


def test_purge_keeps_records_for_retention(engine: Engine) -> None:
    store = IdempotencyStore(engine, retention=timedelta(hours=24))
    store.run("s", "k", {}, lambda: Result(1, ""), Result)
    assert store.purge(now=utcnow() + timedelta(hours=23)) == 0
    assert store.lookup("s", "k") is not None
    assert store.purge(now=utcnow() + timedelta(hours=24, seconds=1)) == 1
    assert store.lookup("s", "k") is None
