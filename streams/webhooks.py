"""Alert webhooks: Slack, Teams or a generic HTTP receiver, off the stream's critical path.

``submit`` only puts the alert on a queue; one sender task per endpoint URL posts it, retrying
with back-off, so a slow or dead endpoint never delays the stream or the other endpoints, and
alerts to one endpoint arrive in order. Every submitted alert ends as exactly one
:class:`DeliveryRecord` (delivered, failed or dropped) handed to ``record``.

Webhook URLs carry their secret in the path and query: only :func:`redact_url` forms of them
are ever logged or recorded, and errors are described in our own words, never by the client's
exception text (which may quote the URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from schemas.alerts import AlertEvent, AlertState, Level, Severity, Webhook, WebhookFormat

log = logging.getLogger(__name__)

Status = Literal["delivered", "failed", "dropped"]
_RANK = {Severity.info: 0, Severity.warning: 1, Severity.critical: 2}
# Words with the emoji, so the state reads without colour (colour-blind staff); Teams colour.
_FIRING = {
    Severity.critical: ("🔴 CRITICAL", "attention"),
    Severity.warning: ("🟠 WARNING", "warning"),
    Severity.info: ("🔵 INFO", "accent"),
}


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    tenant_id: str
    alert_id: str
    alert_key: str
    state: str
    endpoint: str  # the webhook's name or its redacted URL
    format: str
    status: Status
    attempts: int
    last_error: str | None
    at: datetime


def redact_url(url: str) -> str:
    """The URL without what may be secret (user info, path, query).

    >>> redact_url("https://hooks.slack.com/services/T000/B000/XXXX?token=abc")
    'https://hooks.slack.com/…'
    >>> redact_url("http://user:pw@[::1]:8080")
    'http://[::1]:8080'
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "?", parts.port
    except ValueError:
        return "<invalid URL>"
    host = f"[{host}]" if ":" in host else host
    netloc = host if port is None else f"{host}:{port}"
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{netloc}{rest}"


def wants(webhook: Webhook, event: AlertEvent) -> bool:
    """Only the start and the end of a real incident, at or above the webhook's severity."""
    wanted = event.state is AlertState.firing or (
        event.state is AlertState.resolved and event.was_firing
    )
    return wanted and _RANK[event.severity] >= _RANK[webhook.min_severity]


def _headline(event: AlertEvent) -> str:
    if event.state is AlertState.firing:
        return _FIRING[event.severity][0]
    return "✅ RESOLVED" if event.state is AlertState.resolved else "⏳ PENDING"


def _scope(event: AlertEvent) -> str:
    if event.scope is Level.queue:
        return f"queue {event.queue_id} ({event.channel})"
    if event.scope is Level.channel:
        return f"channel {event.channel}"
    if event.scope is Level.agent:
        return f"agent {event.agent_id}"
    return f"tenant {event.tenant_id}"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(event: AlertEvent, fmt: WebhookFormat) -> dict[str, Any]:
    """The JSON body for one alert in the receiver's format."""
    headline = f"{_headline(event)}: {event.message}"
    if fmt is WebhookFormat.slack:
        started = _utc_iso(event.started_at)
        # <!date^…> shows the time in each reader's own time zone; the ISO text is the fallback
        epoch = int(event.started_at.timestamp())
        when = f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{started}>"
        context = [
            f"Severity: *{event.severity.value}*",
            f"Scope: {_scope(event)}",
            f"Started {when}",
        ]
        if event.link:
            context.append(f"<{_slack_escape(event.link)}|Open dashboard>")
        section = f"*{_headline(event)}* {_slack_escape(event.message)}"
        return {
            "text": headline,  # the phone notification: state words first
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": section}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in context]},
            ],
        }
    if fmt is WebhookFormat.teams:
        colour = "good" if event.state is AlertState.resolved else _FIRING[event.severity][1]
        started = _utc_iso(event.started_at)
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "text": _headline(event), "weight": "Bolder",
                 "size": "Medium", "color": colour},
                {"type": "TextBlock", "text": event.message, "wrap": True},
                {"type": "TextBlock", "isSubtle": True, "wrap": True, "spacing": "Small",
                 # DATE()/TIME() render in the reader's time zone
                 "text": f"{event.severity.value} · {_scope(event)} · started "
                         f"{{{{DATE({started}, SHORT)}}}} {{{{TIME({started})}}}}"},
            ],
        }  # fmt: skip
        if event.link:
            card["actions"] = [
                {"type": "Action.OpenUrl", "title": "Open dashboard", "url": event.link}
            ]
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                      "content": card}  # fmt: skip
        return {"type": "message", "attachments": [attachment]}
    return {"text": event.message, "alert": event.model_dump(mode="json")}


@dataclass(slots=True)
class _Job:
    webhook: Webhook
    event: AlertEvent


@dataclass(slots=True)
class _Lane:
    """One endpoint URL: its queue, its sender, and the alert it is delivering now."""

    queue: asyncio.Queue[_Job]
    task: asyncio.Task[None] | None = None
    current: _Job | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Outcome:
    error: str | None = None  # None: delivered
    retry: bool = False
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _describe(exc: BaseException, timeout: float) -> str:
    """Our words for a client error: aiohttp's own messages may quote the full URL."""
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout} s"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS error"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "DNS lookup failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return f"network error: {type(exc).__name__}"


class WebhookDispatcher:
    def __init__(
        self,
        record: Callable[[DeliveryRecord], None],
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
    ) -> None:
        self._record = record  # called on the event loop: it must be quick (buffer, not I/O)
        self._max_attempts = max(1, max_attempts)
        self._base_delay, self._max_delay, self._timeout = base_delay, max_delay, timeout
        self._queue_size = queue_size
        self._lanes: dict[str, _Lane] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._counts = {"delivered": 0, "failed": 0, "dropped": 0, "retries": 0}

    async def start(self) -> None:
        if self._session is not None or self._closed:
            return
        # no connection limit: each lane holds at most one, so a dead endpoint can't starve others
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            connector=aiohttp.TCPConnector(limit=0),
            headers={"User-Agent": "cqm-webhooks"},
        )
        for url, lane in self._lanes.items():
            lane.task = asyncio.create_task(self._send_loop(url, lane))

    def submit(self, webhook: Webhook, event: AlertEvent) -> bool:
        """Queue one alert for one webhook; call from the event loop's thread. Never blocks."""
        job = _Job(webhook, event)
        try:
            if not wants(webhook, event):
                return False
            if self._closed:
                self._finish(job, "dropped", 0, "dispatcher stopped")
                return False
            lane = self._lanes.get(webhook.url)
            if lane is None:
                lane = self._lanes[webhook.url] = _Lane(asyncio.Queue(self._queue_size))
                if self._session is not None:
                    lane.task = asyncio.create_task(self._send_loop(webhook.url, lane))
            lane.queue.put_nowait(job)
            return True
        except asyncio.QueueFull:
            self._finish(job, "dropped", 0, f"queue full ({self._queue_size} waiting)")
        except Exception as exc:  # never let alerting break the stream
            self._finish(job, "dropped", 0, f"internal error: {type(exc).__name__}")
        return False

    async def stop(self, timeout: float = 5.0) -> None:
        """Drain for up to ``timeout`` seconds, then give up: what is left is recorded dropped."""
        self._closed = True
        lanes = list(self._lanes.values())
        tasks = [lane.task for lane in lanes if lane.task is not None]
        if tasks:
            drained = asyncio.gather(*(lane.queue.join() for lane in lanes if lane.task))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained, timeout)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in lanes:
            lane.task = None
            if lane.current is not None:
                error = "stopped before delivery"
                if lane.last_error:
                    error += f" (last error: {lane.last_error})"
                self._finish(lane.current, "dropped", lane.attempts, error)
                lane.current = None
            while not lane.queue.empty():
                self._finish(lane.queue.get_nowait(), "dropped", 0, "stopped before delivery")
        if self._session is not None:
            await self._session.close()
            self._session = None

    def stats(self) -> dict[str, int]:
        pending = sum(
            lane.queue.qsize() + (lane.current is not None) for lane in self._lanes.values()
        )
        return {**self._counts, "pending": pending}

    async def _send_loop(self, url: str, lane: _Lane) -> None:
        while True:
            job = await lane.queue.get()
            lane.current, lane.attempts, lane.last_error = job, 0, None
            try:
                status = await self._deliver(url, lane, job)
            except Exception as exc:  # a bug must not kill the lane and strand its queue
                status, lane.last_error = "failed", f"internal error: {type(exc).__name__}"
            # no await between the record and clearing ``current``: stop() sees one or the other
            self._finish(job, status, lane.attempts, lane.last_error)
            lane.current = None
            lane.queue.task_done()

    async def _deliver(self, url: str, lane: _Lane, job: _Job) -> Status:
        payload = render(job.event, job.webhook.format)
        while True:
            lane.attempts += 1
            outcome = await self._post(url, payload)
            if outcome.error is None:
                return "delivered"  # last_error still says why earlier attempts failed
            lane.last_error = outcome.error
            if not outcome.retry or lane.attempts >= self._max_attempts:
                return "failed"
            delay = self._backoff(lane.attempts - 1, outcome.retry_after)
            self._counts["retries"] += 1
            log.debug(
                "webhook %s: %s, retry in %.2f s", _endpoint(job.webhook), outcome.error, delay
            )
            await asyncio.sleep(delay)

    async def _post(self, url: str, payload: dict[str, Any]) -> _Outcome:
        assert self._session is not None  # senders run only between start() and stop()
        try:
            # no redirects: following one would turn the POST into a GET or leak the body
            async with self._session.post(url, json=payload, allow_redirects=False) as resp:
                status, retry_after = resp.status, _retry_after(resp.headers.get("Retry-After"))
                if 200 <= status < 300:
                    return _Outcome()
        except aiohttp.InvalidURL:
            return _Outcome("invalid URL")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _Outcome(_describe(exc, self._timeout), retry=True)
        retry = status == 429 or status >= 500
        return _Outcome(f"HTTP {status}", retry=retry, retry_after=retry_after if retry else None)

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        delay = min(self._max_delay, self._base_delay * 2.0 ** min(retry, 32))
        # jitter, so endpoints recovering from an outage are not hit by every lane in lockstep
        delay *= random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._max_delay))
        return delay

    def _finish(self, job: _Job, status: Status, attempts: int, error: str | None) -> None:
        event = job.event
        rec = DeliveryRecord(
            tenant_id=event.tenant_id, alert_id=event.alert_id, alert_key=event.alert_key,
            state=event.state.value, endpoint=_endpoint(job.webhook),
            format=job.webhook.format.value, status=status, attempts=attempts,
            last_error=error, at=datetime.now(UTC),
        )  # fmt: skip
        self._counts[status] += 1
        if status != "delivered":
            log.warning("webhook %s: alert %s %s after %d attempt(s): %s",
                        rec.endpoint, rec.alert_id, status, attempts, error)  # fmt: skip
        try:
            self._record(rec)
        except Exception:
            log.exception("webhook %s: the delivery record callback failed", rec.endpoint)


def _endpoint(webhook: Webhook) -> str:
    return webhook.name or redact_url(webhook.url)
