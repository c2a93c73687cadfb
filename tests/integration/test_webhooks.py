"""Webhook delivery against real HTTP receivers on 127.0.0.1: shapes, retries, isolation, order.

Every test runs its coroutine under a deadline (``run``) and waits for outcomes by polling the
delivery records with a deadline, never by sleeping a guessed time.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from aiohttp import web

from schemas.alerts import AlertEvent, AlertState, Level, Severity, Webhook, WebhookFormat
from streams.webhooks import DeliveryRecord, WebhookDispatcher, render

pytestmark = pytest.mark.integration

T = TypeVar("T")
Reply = tuple[int, dict[str, str]]  # status and headers a receiver answers with
LINK = "https://grafana.example/d/queue?var-queue=billing&from=now-1h"
STARTED = datetime(2024, 5, 6, 10, 27, tzinfo=UTC)


def run(coro: Coroutine[Any, Any, T], deadline: float = 8.0) -> T:
    return asyncio.run(asyncio.wait_for(coro, deadline))


def alert(
    n: int = 0,
    state: AlertState = AlertState.firing,
    severity: Severity = Severity.warning,
    was_firing: bool = True,
) -> AlertEvent:
    return AlertEvent(
        alert_key="acme/service-level/billing",
        alert_id=f"acme/service-level/billing@{n}",
        tenant_id="acme",
        rule="service-level-below-target",
        state=state,
        severity=severity,
        figure="service_level_pct",
        value=62.0,
        threshold=80.0,
        clear_threshold=80.0,
        op="below",
        scope=Level.queue,
        channel="voice",
        queue_id="billing",
        window_seconds=900,
        sample=40,
        started_at=STARTED,
        at=STARTED + timedelta(minutes=1, seconds=n),
        message=f"Billing voice: service level 62% (target 80%) for the last 15 min #{n}",
        context={"in_queue_now": 14, "agents_available_now": 3},
        link=LINK,
        was_firing=was_firing,
    )


@dataclass
class Received:
    started: float  # time.monotonic() when the request arrived
    finished: float  # when the receiver answered
    path_qs: str
    body: dict[str, Any]
    status: int


@dataclass
class Receiver:
    """A real HTTP server: answers from ``script`` (status, headers) in turn, then 200."""

    script: list[Reply] = field(default_factory=list)
    delay: float = 0.0
    arrived: list[float] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        self.arrived.append(started)
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        status, headers = self.script.pop(0) if self.script else (200, {})
        self.requests.append(Received(started, time.monotonic(), request.path_qs, body, status))
        return web.Response(status=status, headers=headers, text="ok")


@asynccontextmanager
async def receiver(
    script: list[Reply] | None = None, delay: float = 0.0
) -> AsyncIterator[Receiver]:
    rec = Receiver(script=list(script or []), delay=delay)
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    # no access log: it would show the secret paths; a short shutdown for the slow handlers
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rec.port = runner.addresses[0][1]
    try:
        yield rec
    finally:
        await runner.cleanup()


class Records(list[DeliveryRecord]):
    def __call__(self, record: DeliveryRecord) -> None:
        self.append(record)

    async def wait(self, count: int, timeout: float = 3.0) -> list[DeliveryRecord]:
        deadline = time.monotonic() + timeout
        while len(self) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self)} delivery records after {timeout} s: {self}")
            await asyncio.sleep(0.005)
        return list(self)


@asynccontextmanager
async def dispatcher(records: Records, **options: Any) -> AsyncIterator[WebhookDispatcher]:
    d = WebhookDispatcher(records, **{"base_delay": 0.01, "max_delay": 2.0, **options})
    await d.start()
    try:
        yield d
    finally:
        await d.stop(timeout=1.0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_each_format_delivers_a_firing_alert_in_its_shape() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver() as rx, dispatcher(records) as d:
            for fmt in WebhookFormat:
                assert d.submit(Webhook(url=rx.url(f"/{fmt}"), format=fmt), alert())
            done = await records.wait(3)
        assert {(r.format, r.status, r.attempts) for r in done} == {
            ("generic", "delivered", 1),
            ("slack", "delivered", 1),
            ("teams", "delivered", 1),
        }
        body = {r.path_qs.lstrip("/"): r.body for r in rx.requests}
        message = alert().message

        assert body["generic"]["text"] == message
        assert body["generic"]["alert"]["alert_id"] == alert().alert_id
        assert body["generic"]["alert"]["state"] == "firing"

        slack = body["slack"]
        assert message in slack["text"] and "WARNING" in slack["text"]
        section, context = slack["blocks"]
        assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
        assert "WARNING" in section["text"]["text"] and "Billing voice" in section["text"]["text"]
        assert context["type"] == "context"
        notes = " ".join(e["text"] for e in context["elements"])
        assert "warning" in notes and "queue billing (voice)" in notes
        assert "2024-05-06T10:27:00Z" in notes  # fallback text of the <!date^…> token
        assert "&amp;from=now-1h|Open dashboard>" in notes  # link, escaped for mrkdwn

        teams = body["teams"]
        assert teams["type"] == "message"
        (attachment,) = teams["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
        texts = [b["text"] for b in card["body"] if b["type"] == "TextBlock"]
        assert message in texts and any("WARNING" in t for t in texts)
        assert card["actions"] == [
            {"type": "Action.OpenUrl", "title": "Open dashboard", "url": LINK}
        ]

    run(scenario())


def test_states_and_severities_are_told_apart_in_words_not_only_colour() -> None:
    variants = [alert(severity=s) for s in Severity] + [alert(state=AlertState.resolved)]
    slack = [render(e, WebhookFormat.slack)["text"] for e in variants]
    teams = [
        render(e, WebhookFormat.teams)["attachments"][0]["content"]["body"][0]["text"]
        for e in variants
    ]
    assert len(set(slack)) == len(set(teams)) == 4
    assert [t.split()[-1] for t in teams] == ["INFO", "WARNING", "CRITICAL", "RESOLVED"]


def test_pending_unfired_and_below_min_severity_alerts_are_not_sent() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver() as rx, dispatcher(records) as d:
            hook = Webhook(url=rx.url(), min_severity=Severity.warning)
            assert not d.submit(hook, alert(1, state=AlertState.pending))
            assert not d.submit(hook, alert(2, severity=Severity.info))
            assert not d.submit(hook, alert(3, state=AlertState.resolved, was_firing=False))
            assert d.submit(hook, alert(4, state=AlertState.resolved))
            assert d.submit(hook, alert(5, severity=Severity.critical))  # sentinel: last in line
            await records.wait(2)
        # one lane delivers in order, so nothing else can still be on its way
        assert [r.body["alert"]["alert_id"][-1] for r in rx.requests] == ["4", "5"]
        assert len(records) == 2

    run(scenario())


def test_flaky_endpoint_is_delivered_on_the_third_attempt_honouring_retry_after() -> None:
    async def scenario() -> None:
        records = Records()
        script = [(429, {"Retry-After": "1"}), (503, {})]
        async with receiver(script) as rx, dispatcher(records, max_attempts=5) as d:
            d.submit(Webhook(url=rx.url(), name="billing-team"), alert())
            (rec,) = await records.wait(1)
            assert d.stats() == {
                "delivered": 1, "failed": 0, "dropped": 0, "retries": 2, "pending": 0
            }  # fmt: skip
        assert (rec.status, rec.attempts, rec.endpoint) == ("delivered", 3, "billing-team")
        assert rec.last_error == "HTTP 503"  # why the earlier attempts failed
        first, second, third = (r.started for r in rx.requests)
        assert second - first >= 0.95, "Retry-After: 1 was not honoured"
        assert third - second < 0.5, "back-off from base_delay=0.01 should be tiny"

    run(scenario())


def test_a_404_fails_at_once() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver([(404, {})]) as rx, dispatcher(records) as d:
            d.submit(Webhook(url=rx.url()), alert())
            (rec,) = await records.wait(1)
        assert (rec.status, rec.attempts, rec.last_error) == ("failed", 1, "HTTP 404")
        assert len(rx.requests) == 1

    run(scenario())


def test_a_dead_endpoint_fails_after_max_attempts_with_the_connection_error() -> None:
    async def scenario() -> None:
        records = Records()
        async with dispatcher(records, max_attempts=3) as d:
            d.submit(Webhook(url=f"http://127.0.0.1:{closed_port()}/hook"), alert())
            (rec,) = await records.wait(1)
            assert d.stats()["retries"] == 2
        assert (rec.status, rec.attempts, rec.last_error) == ("failed", 3, "connection refused")

    run(scenario())


def test_an_endpoint_slower_than_the_timeout_fails_with_a_timeout() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver(delay=1.0) as rx, dispatcher(records, timeout=0.2, max_attempts=2) as d:
            d.submit(Webhook(url=rx.url()), alert())
            (rec,) = await records.wait(1)
        assert (rec.status, rec.attempts, rec.last_error) == ("failed", 2, "timeout after 0.2 s")

    run(scenario())


def test_a_slow_endpoint_does_not_delay_a_fast_one() -> None:
    async def scenario() -> None:
        records = Records()
        async with (
            receiver(delay=2.0) as slow,
            receiver() as fast,
            dispatcher(records) as d,
        ):
            submitted = time.monotonic()
            d.submit(Webhook(url=slow.url(), name="slow"), alert(1))
            d.submit(Webhook(url=fast.url(), name="fast"), alert(2))
            (first,) = await records.wait(1)
            assert first.endpoint == "fast"
            await records.wait(2, timeout=4.0)
        fast_latency = fast.requests[0].started - submitted
        slow_done = slow.requests[0].finished - submitted
        assert fast_latency < 0.5, f"fast endpoint got its alert after {fast_latency:.2f} s"
        assert slow_done >= 2.0
        assert [(r.endpoint, r.status) for r in records] == [
            ("fast", "delivered"),
            ("slow", "delivered"),
        ]

    run(scenario(), deadline=10.0)


def test_alerts_to_one_endpoint_arrive_in_order_even_across_retries() -> None:
    async def scenario() -> None:
        records = Records()
        # requests 3 and 7 fail: those alerts are retried before the next one is sent
        ok: Reply = (200, {})
        script = [ok, ok, (500, {}), ok, ok, ok, (502, {})]
        async with receiver(script) as rx, dispatcher(records) as d:
            for n in range(10):
                assert d.submit(Webhook(url=rx.url()), alert(n))
            await records.wait(10)
        delivered = [r.body["alert"]["alert_id"] for r in rx.requests if r.status == 200]
        assert delivered == [alert(n).alert_id for n in range(10)]
        assert [r.alert_id for r in records] == delivered
        assert len(rx.requests) == 12

    run(scenario())


def test_a_full_queue_records_the_overflow_as_dropped() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver() as rx, dispatcher(records, queue_size=2) as d:
            hook = Webhook(url=rx.url())
            # no await in between: the sender cannot take anything off the queue meanwhile
            accepted = [d.submit(hook, alert(n)) for n in range(5)]
            assert accepted == [True, True, False, False, False]
            dropped = list(records)
            await records.wait(5)
        assert [(r.alert_id[-1], r.status, r.attempts) for r in dropped] == [
            ("2", "dropped", 0),
            ("3", "dropped", 0),
            ("4", "dropped", 0),
        ]
        assert all("queue full" in (r.last_error or "") for r in dropped)
        assert [r.body["alert"]["alert_id"][-1] for r in rx.requests] == ["0", "1"]

    run(scenario())


def test_stop_records_what_was_not_delivered_as_dropped() -> None:
    async def scenario() -> None:
        records = Records()
        async with receiver(delay=3.0) as rx:
            d = WebhookDispatcher(records, timeout=5.0)
            await d.start()
            for n in range(3):
                d.submit(Webhook(url=rx.url()), alert(n))
            while not rx.arrived:  # the first alert is in flight (bounded by run's deadline)
                await asyncio.sleep(0.005)
            began = time.monotonic()
            await d.stop(timeout=0.2)
            took = time.monotonic() - began
            assert not d.submit(Webhook(url=rx.url()), alert(3))
        assert took < 1.0, f"stop(timeout=0.2) took {took:.2f} s"
        assert [(r.alert_id[-1], r.status, r.attempts) for r in records] == [
            ("0", "dropped", 1),  # in flight when stopped
            ("1", "dropped", 0),
            ("2", "dropped", 0),
            ("3", "dropped", 0),  # submitted after stop
        ]
        assert d.stats() == {"delivered": 0, "failed": 0, "dropped": 4, "retries": 0, "pending": 0}

    run(scenario())


def test_a_failing_record_callback_does_not_stop_deliveries() -> None:
    async def scenario() -> None:
        seen = Records()

        def flaky_record(record: DeliveryRecord) -> None:
            seen(record)
            if len(seen) == 1:
                raise RuntimeError("sink is down")

        async with receiver() as rx:
            d = WebhookDispatcher(flaky_record)
            await d.start()
            d.submit(Webhook(url=rx.url()), alert(1))
            d.submit(Webhook(url=rx.url()), alert(2))
            await seen.wait(2)
            await d.stop()
        assert [r.status for r in seen] == ["delivered", "delivered"]

    run(scenario())


def test_records_and_logs_never_show_the_secret_part_of_a_webhook_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "/services/T000/B000/SECRET?token=abc"

    async def scenario() -> tuple[int, int, Receiver]:
        records = Records()
        dead = closed_port()
        async with receiver([(500, {})] * 2) as rx, dispatcher(records, max_attempts=2) as d:
            d.submit(Webhook(url=rx.url(secret), format=WebhookFormat.slack), alert(1))
            d.submit(Webhook(url=f"http://127.0.0.1:{dead}{secret}"), alert(2))
            await records.wait(2)
        by_id = {r.alert_id[-1]: r for r in records}
        assert (by_id["1"].status, by_id["1"].last_error) == ("failed", "HTTP 500")
        assert (by_id["2"].status, by_id["2"].last_error) == ("failed", "connection refused")
        for r in records:
            assert "SECRET" not in repr(r) and "token" not in repr(r)
        assert by_id["1"].endpoint == f"http://127.0.0.1:{rx.port}/…"
        assert by_id["2"].endpoint == f"http://127.0.0.1:{dead}/…"
        return rx.port, dead, rx

    with caplog.at_level(logging.DEBUG):
        _, _, rx = run(scenario())
    assert rx.requests[0].path_qs == secret  # the real URL was used …
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "failed after 2 attempt(s)" in logged
    assert "SECRET" not in logged and "token" not in logged  # … and never shown
