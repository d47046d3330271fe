"""Delivery against a misbehaving webhook receiver on 127.0.0.1: 500s, hangs, connections
closed before answering, 429 with Retry-After — every alert still arrives, one notification per
group window, and a restart neither loses a pending notification nor re-sends a delivered one."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal as signals
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from veille.alert.channels import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AppriseChannel,
    build_channels,
    verify,
)
from veille.alert.deliver import DeliveryWorker
from veille.alert.engine import AlertEngine
from veille.alert.service import AlertService
from veille.config import load_settings
from veille.store import alerts as store
from veille.testing import FakeClock, FakeWebhookReceiver, ReceivedRequest

from .conftest import settings, signal

pytestmark = pytest.mark.integration
SECRET = "s3cret-for-tests"


def webhook_settings(url: str, **more: Any) -> Any:
    fast = {
        "backoff_initial": "50ms",
        "backoff_max": "200ms",
        "retry_after_max": "1s",
        "lease": "3s",
        "max_attempts": 50,
    }
    return settings(
        receivers=[
            {"name": "hook", "type": "webhook", "url": url, "secret": SECRET, "timeout": "500ms"}
        ],
        delivery=fast | more.pop("delivery", {}),
        **more,
    )


def misbehave(n: int, request: ReceivedRequest) -> str:
    """The first attempt of everything fails, in turn: 500, hang, close, 429; then 200."""
    return (
        ["500", "hang", "close", "429", "200"][min(n, 4)]
        if n < 4
        else ("200" if n % 3 == 0 else ["500", "hang", "close", "429"][n % 4])
    )


async def wait_for(predicate: Any, within: float = 60.0) -> None:
    """Wait (in real time) for work running in the background; the bound only stops a hang."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def outbox(db: sa.Engine) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(sa.select(store.alert_notifications)).mappings())


async def attempt_until(
    worker: DeliveryWorker, clock: FakeClock, done: Any, rounds: int = 100
) -> None:
    """Attempt everything due, then move the fake clock past any backoff, until ``done()``.

    Waiting is on the fake clock, so a slow machine changes nothing but the wall time."""
    for _ in range(rounds):
        await worker.drain()
        if done():
            return
        clock.advance(2)  # beyond the longest backoff (200 ms) and Retry-After (1 s)
    raise AssertionError(f"not done after {rounds} rounds of attempts")


async def test_every_alert_arrives_through_failures_exactly_once(
    db: sa.Engine, clock: FakeClock
) -> None:
    async with FakeWebhookReceiver(misbehave) as receiver:
        engine = AlertEngine(db, webhook_settings(receiver.url), clock)
        worker = DeliveryWorker(engine, build_channels(engine.settings))
        # 12 conversations × 3 posts: one group each, the first post opens the window
        posts = [(c, p) for c in range(12) for p in range(3)]
        engine.submit(signal(conversation=f"x:{c}", native_id=f"{c}-{p}") for c, p in posts)
        await attempt_until(worker, clock, lambda: len(receiver.delivered()) == 12)
        await worker.aclose()

    delivered = receiver.delivered()
    keys = Counter(r.headers[IDEMPOTENCY_HEADER.lower()] for r in delivered)
    assert all(count == 1 for count in keys.values())  # one 200 per notification
    bodies = [orjson.loads(r.body) for r in delivered]
    groups = Counter(b["group"]["key"] for b in bodies)
    assert len(groups) == 12
    assert set(groups.values()) == {1}
    arrived = sorted(a["post"]["native_id"] for b in bodies for a in b["alerts"])
    assert arrived == sorted(f"{c}-{p}" for c, p in posts)  # every alert, once
    answers = Counter(r.answer for r in receiver.requests)
    assert {"500", "hang", "close", "429"} <= set(answers)  # every failure was exercised
    for r in delivered:
        assert verify(
            SECRET.encode(),
            r.headers[TIMESTAMP_HEADER.lower()],
            r.body,
            r.headers[SIGNATURE_HEADER.lower()],
        )
    assert all(n["status"] == "delivered" for n in outbox(db))


async def test_retries_send_the_same_bytes_and_key(db: sa.Engine, clock: FakeClock) -> None:
    async with FakeWebhookReceiver(lambda n, r: "500" if n < 3 else "200") as receiver:
        engine = AlertEngine(db, webhook_settings(receiver.url), clock)
        worker = DeliveryWorker(engine, build_channels(engine.settings))
        engine.submit([signal()])
        await attempt_until(worker, clock, receiver.delivered)
        await worker.aclose()
    assert [r.answer for r in receiver.requests] == ["500", "500", "500", "200"]
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["idempotency-key"] for r in receiver.requests}) == 1


async def test_a_new_worker_takes_over_without_loss_or_resend(
    db: sa.Engine, clock: FakeClock
) -> None:
    """Stop the worker while requests hang, start a fresh service on the same database: the
    pending ones go out, the delivered ones do not go out again. (A worker process killed
    with SIGKILL is the test below.)"""
    hang_first = itertools.count()

    def behave(n: int, request: ReceivedRequest) -> str:
        body = orjson.loads(request.body)
        # conversations 0-4 deliver at once; the first attempts for 5-9 hang
        if int(body["alerts"][0]["conversation"].split(":")[1]) >= 5 and next(hang_first) < 5:
            return "hang"
        return "200"

    async with FakeWebhookReceiver(behave) as receiver:
        cfg = webhook_settings(receiver.url)
        first = AlertService(db, cfg, clock=clock)
        stop = asyncio.Event()
        runner = asyncio.create_task(first.run(stop))
        await asyncio.sleep(0)  # the worker is running: the submit hands its messages over
        await first.submit(signal(conversation=f"x:{c}", native_id=str(c)) for c in range(10))
        await wait_for(lambda: len(receiver.delivered()) == 5 and len(receiver.requests) == 10)
        stop.set()
        await runner
        before = len(receiver.requests)

        clock.advance(60)  # past the backoff of the attempts that failed
        second = AlertService(db, cfg, clock=clock)  # a new process on the same database
        stop2 = asyncio.Event()
        runner2 = asyncio.create_task(second.run(stop2))
        await wait_for(lambda: len(receiver.delivered()) == 10)
        stop2.set()
        await runner2
        assert second.engine.claim() == []  # nothing left that any worker could send again

    delivered = Counter(r.headers["idempotency-key"] for r in receiver.delivered())
    assert len(delivered) == 10
    assert set(delivered.values()) == {1}
    resent = receiver.requests[before:]
    assert len(resent) == 5  # only the five that never got an answer
    assert all(n["status"] == "delivered" for n in outbox(db))


async def test_dead_letter_when_the_receiver_never_recovers(
    db: sa.Engine, clock: FakeClock
) -> None:
    async with FakeWebhookReceiver(lambda n, r: "500") as receiver:
        cfg = webhook_settings(receiver.url, delivery={"max_attempts": 3})
        engine = AlertEngine(db, cfg, clock)
        worker = DeliveryWorker(engine, build_channels(engine.settings))
        engine.submit([signal()])
        await attempt_until(worker, clock, lambda: outbox(db)[0]["status"] == "dead")
        await worker.aclose()
    (row,) = outbox(db)
    assert len(receiver.requests) == 3
    assert row["attempts"] == 3
    assert "HTTP 500" in row["last_error"]


async def test_delivery_goes_on_when_the_database_is_busy(
    db: sa.Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox cannot be read for a while (SQLite's lock busy for longer than its timeout,
    PostgreSQL restarting): the worker says so and looks again; it does not stop delivering."""
    async with FakeWebhookReceiver() as receiver:
        service = AlertService(db, webhook_settings(receiver.url), clock=clock)
        claim, busy = service.engine.claim, iter(range(2))

        def busy_then_claim(limit: int = 32) -> Any:
            if next(busy, None) is not None:
                locked = Exception("database is locked")
                raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, locked)
            return claim(limit)

        monkeypatch.setattr(service.engine, "claim", busy_then_claim)
        service.engine.submit([signal()])  # in the outbox, not handed over
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run(stop))
        await wait_for(receiver.delivered)
        stop.set()
        await runner
    assert next(busy, None) is None  # both failures happened before the delivery
    assert len(receiver.delivered()) == 1


async def test_client_errors_are_not_retried(db: sa.Engine) -> None:
    async with FakeWebhookReceiver(lambda n, r: "404") as receiver:
        engine = AlertEngine(db, webhook_settings(receiver.url))
        worker = DeliveryWorker(engine, build_channels(engine.settings))
        engine.submit([signal()])
        await worker.drain()
        await worker.aclose()
    assert len(receiver.requests) == 1
    assert outbox(db)[0]["status"] == "dead"


async def test_apprise_json_channel_reaches_a_local_receiver(db: sa.Engine) -> None:
    async with FakeWebhookReceiver() as receiver:
        cfg = settings(
            receivers=[
                {
                    "name": "chat",
                    "type": "apprise",
                    "urls": [f"json://127.0.0.1:{receiver.port}/apprise"],
                }
            ],
            default_receivers=["chat"],
        )
        engine = AlertEngine(db, cfg)
        worker = DeliveryWorker(engine, build_channels(cfg))
        engine.submit([signal(reasons=("call to violence",))])
        await worker.drain()
        await worker.aclose()
    (request,) = receiver.requests
    body = orjson.loads(request.body)
    assert body["title"].startswith("[HIGH] Threat against a police station")
    assert "why: call to violence" in body["message"]
    assert outbox(db)[0]["status"] == "delivered"


async def test_apprise_failure_is_retried(db: sa.Engine, clock: FakeClock) -> None:
    async with FakeWebhookReceiver(lambda n, r: "500" if n == 0 else "200") as receiver:
        cfg = settings(
            receivers=[
                {"name": "chat", "type": "apprise", "urls": [f"json://127.0.0.1:{receiver.port}/"]}
            ],
            default_receivers=["chat"],
        )
        engine = AlertEngine(db, cfg, clock)
        worker = DeliveryWorker(engine, build_channels(cfg))
        engine.submit([signal()])
        await attempt_until(worker, clock, receiver.delivered)
        await worker.aclose()
    assert [r.answer for r in receiver.requests] == ["500", "200"]


def test_apprise_rejects_an_unknown_url() -> None:
    with pytest.raises(ValueError, match="does not understand"):
        AppriseChannel(["nosuchscheme://token@host"], timedelta(seconds=1))


def test_webhook_secret_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = settings(
        receivers=[
            {
                "name": "hook",
                "type": "webhook",
                "url": "http://127.0.0.1:9/",
                "secret_env": "VEILLE_TEST_HOOK_SECRET",
            }
        ]
    )
    with pytest.raises(ValueError, match="VEILLE_TEST_HOOK_SECRET is empty"):
        build_channels(cfg)
    monkeypatch.setenv("VEILLE_TEST_HOOK_SECRET", "x")
    assert set(build_channels(cfg)) == {"hook"}


def _deliver_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """``veille alerts deliver`` in its own process (and session, so kill -9 takes it whole)."""
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "veille", "alerts", "deliver"],
            env={**os.environ, "VEILLE_CONFIG": str(config)},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


async def test_kill_9_of_the_delivery_process_loses_nothing_and_resends_nothing(
    db: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    """A delivery worker process is killed with SIGKILL while requests are in flight, then
    started again on the same database: every notification still pending at the kill is
    delivered, and none recorded as delivered is sent again."""
    killed = asyncio.Event()

    def behave(n: int, request: ReceivedRequest) -> str:
        # the first four get through; then requests hang until the process is gone
        return "200" if n < 4 or killed.is_set() else "hang"

    async with FakeWebhookReceiver(behave) as receiver:
        config = tmp_path / "veille.toml"
        config.write_text(
            f'[store]\nurl = "{db_url}"\n'
            "[alerts]\ndefault_receivers = ['hook']\n"
            "[alerts.delivery]\nlease = '2s'\nbackoff_initial = '100ms'\nconcurrency = 4\n"
            "[[alerts.receivers]]\nname = 'hook'\ntype = 'webhook'\n"
            f"url = '{receiver.url}'\nsecret = '{SECRET}'\ntimeout = '30s'\n"
        )
        engine = AlertEngine(db, load_settings(config).alerts)
        engine.submit(signal(conversation=f"x:{c}", native_id=str(c)) for c in range(10))
        first = _deliver_process(config, tmp_path / "deliver.log")
        try:
            # in the middle of delivery: some recorded as delivered, some requests hanging
            await wait_for(lambda: len(receiver.requests) >= 8 and _statuses(db)["delivered"] >= 1)
        finally:
            os.killpg(first.pid, signals.SIGKILL)
            await asyncio.to_thread(first.wait, 10)
        killed.set()
        at_kill = {n["idempotency_key"]: n["status"] for n in outbox(db)}
        assert set(at_kill.values()) == {"delivered", "pending"}
        before = len(receiver.requests)

        second = _deliver_process(config, tmp_path / "deliver.log")
        try:
            await wait_for(lambda: _statuses(db)["delivered"] == 10)
        finally:
            second.send_signal(signals.SIGINT)
            await asyncio.to_thread(second.wait, 10)

    after = [r.headers["idempotency-key"] for r in receiver.requests[before:]]
    assert not [k for k in after if at_kill[k] == "delivered"]  # none delivered is sent again
    pending = {k for k, status in at_kill.items() if status == "pending"}
    answered = Counter(r.headers["idempotency-key"] for r in receiver.delivered())
    assert pending <= set(answered)  # none pending is lost
    assert set(answered) == set(at_kill)
    # a second 200 for one key only where the kill fell between the answer and its record
    assert all(k in pending for k, count in answered.items() if count > 1)


def _statuses(db: sa.Engine) -> Counter[str]:
    return Counter(n["status"] for n in outbox(db))
