"""The Faust application: one agent reads the four input topics, a few lines per batch.

decode + judge (pipeline, pure) → store (ClickHouse, on one executor thread) → dead letters to
Kafka → live board. Offsets are committed only after a batch is stored (``take_events`` acks
after the loop body), so a crash redelivers and the idempotent store absorbs the repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from processors.agents import AgentBoard
from processors.alerting import AlertEngine
from processors.anomaly_watch import AnomalyWatch, Finding, Scope
from processors.dedup import RecentIds
from processors.figures import FigureSums
from processors.lateness import Watermarks
from processors.live import LiveBoard
from schemas.alerts import AlertEvent
from schemas.decode import InvalidEvent, validate_event
from schemas.events import (
    AgentStateChanged,
    ContactAbandoned,
    ContactAnswered,
    ContactQueued,
    Event,
)
from schemas.tenants import InvalidConfig, TenantDirectory, TenantSettings, parse_tenant_config
from streams.alerting import AGENT, LiveAlerts
from streams.pipeline import Batch, DeadLetter, Message, Pipeline, as_messages
from streams.settings import Settings
from streams.store import Store, WriteResult
from streams.transport import App
from streams.webhooks import DeliveryRecord, WebhookDispatcher, redact_url

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Counters:
    """Every input is accounted for: received = valid + duplicates + dead letters."""

    received: int = 0
    valid: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    config_accepted: int = 0
    config_rejected: int = 0
    store_failures: int = 0
    last_store_error: str | None = None  # set while storing is failing
    batches: int = 0
    first_batch_at: float | None = None  # when this process began on its first batch
    last_batch_at: float | None = None
    by_tenant: dict[str, int] = field(default_factory=dict)

    def add(self, batch: Batch, result: WriteResult) -> None:
        self.received += batch.received
        self.valid += len(result.new)
        self.duplicates += result.duplicates
        self.dead_letters += result.dead_letters
        self.late += sum(row.late for row in result.new)
        self.batches += 1
        self.last_batch_at = time.time()
        for row in result.new:
            tenant = row.event.tenant_id
            self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1

    @property
    def busy_seconds(self) -> float:
        """From taking the first batch to storing the last (includes waits for input)."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return self.last_batch_at - self.first_batch_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "valid": self.valid,
            "duplicates": self.duplicates,
            "dead_letters": self.dead_letters,
            "late": self.late,
            "config_accepted": self.config_accepted,
            "config_rejected": self.config_rejected,
            "store_failures": self.store_failures,
            "last_store_error": self.last_store_error,
            "batches": self.batches,
            "valid_by_tenant": dict(sorted(self.by_tenant.items())),
        }


class Runtime:
    """What the agents need, built from the settings; nothing connects until ``start``."""

    def __init__(self, settings: Settings, tenants: TenantDirectory | None = None) -> None:
        self.settings = settings
        self.tenants = tenants or settings.tenants()
        self.store = Store(settings.clickhouse_dsn, settings.clickhouse_database, self.tenants)
        self.pipeline = Pipeline(
            self.tenants, settings.input_topics, Watermarks(), settings.max_message_bytes
        )
        self.live = LiveBoard(settings.live_window_seconds)
        self.agents = AgentBoard()
        self.anomalies = AnomalyWatch(settings.anomaly_grace_seconds)
        self.alerts = LiveAlerts(
            self.tenants,
            self.live,
            self.agents,
            AlertEngine(settings.live_window_seconds, settings.dashboard_url),
            anomalies=self.anomalies,
        )
        # scored quarter hours and detector states waiting to be stored, and when each
        # tenant's last event arrived (wall clock)
        self.scored: list[Finding] = []
        self.detectors: dict[str, list[tuple[Scope, str, dict[str, Any]]]] = {}
        self._arrived: dict[str, float] = {}
        self.counters = Counters()
        # duplicates the live view must skip: as many ids as a busy window holds
        self.recent = RecentIds(capacity=500_000)
        self.deliveries: list[DeliveryRecord] = []  # webhook outcomes waiting to be stored
        self.webhooks = WebhookDispatcher(self.deliveries.append)
        # chDB is one in-process engine: every ClickHouse call goes through this one thread
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cqm-store")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    @property
    def event_clock(self) -> bool:
        return self.settings.live_clock == "event"

    def start(self) -> None:
        """Open ClickHouse, apply migrations, restore state (blocking)."""
        (self.settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
        self.store.open()
        self.store.migrate()
        self.pipeline.watermarks = Watermarks(self.store.watermarks())
        for tenant in self.store.tenant_configs():  # accepted cqm.config updates beat the file
            self.tenants.set(tenant)
        open_alerts = [*self.store.alerts(state="pending"), *self.store.alerts(state="firing")]
        self.alerts.engine.restore(open_alerts)
        for scope, figure, state in self.store.anomaly_states():
            self.anomalies.restore(scope, figure, state)
        self._restore_live()
        self.anomalies.late = 0  # the restored events of closed quarter hours are not late

    def store_batch(self, batch: Batch, raised: list[AlertEvent]) -> WriteResult:
        """Store a batch, the alerts it raised and what the detectors learned (blocking;
        executor)."""
        result = self.store.write(batch)
        self.store.write_alerts(raised)
        self.store_anomalies()
        return result

    def store_anomalies(self) -> None:
        """Store scored quarter hours and detector states (blocking; executor). Taken off the
        queues only once written, so a failed write is retried with the next batch."""
        scored, detectors = list(self.scored), dict(self.detectors)
        self.store.write_anomaly_scores(scored)
        self.store.save_anomaly_states(
            [(tenant, *series) for tenant, states in detectors.items() for series in states]
        )
        del self.scored[: len(scored)]
        for tenant, states in detectors.items():
            if self.detectors.get(tenant) is states:
                del self.detectors[tenant]

    def close_quarter_hours(self, tenant_id: str, now: float) -> None:
        """Let the anomaly detectors score the tenant's quarter hours ended before ``now``."""
        if now < self.anomalies.next_close(tenant_id):
            return
        tenant = self.tenants.get(tenant_id)
        found = self.anomalies.close(tenant_id, now, tenant.anomaly, tenant.zone)
        if found:
            self.scored += found
            self.detectors[tenant_id] = self.anomalies.states(tenant_id)
            self.alerts.changed(tenant_id)

    async def store_until_done(self, batch: Batch, raised: list[AlertEvent]) -> WriteResult:
        """Store a batch, retrying with back-off while ClickHouse fails. The offsets are not
        committed meanwhile, so nothing is lost and the consumer stops taking more (back-
        pressure); the store is idempotent, so a retry of a half-written batch is safe."""
        delay = 0.5
        while True:
            try:
                result: WriteResult = await self.run(self.store_batch, batch, raised)
            except Exception as exc:
                self.counters.store_failures += 1
                self.counters.last_store_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                log.error("storing a batch failed, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.store_retry_max_seconds)
                continue
            self.counters.last_store_error = None
            return result

    def process(self, messages: list[Message]) -> tuple[Batch, WriteResult, list[AlertEvent]]:
        """The whole path for one batch, synchronously (tests, benchmarks)."""
        batch = self.pipeline.prepare(messages)
        raised = self.record_live(batch)
        result = self.store_batch(batch, raised)
        self.counters.add(batch, result)
        return batch, result, raised

    def record_live(self, batch: Batch) -> list[AlertEvent]:
        """Move the live boards and evaluate alerts (event loop), before the batch is stored:
        alerts wait for nothing but the live figures."""
        raised: list[AlertEvent] = []
        touched: set[str] = set()
        for row in batch.rows:
            event = row.event
            if row.late or not self.recent.add((event.tenant_id, event.event_id)):
                continue  # late events update stored intervals only; duplicates count once
            touched.add(event.tenant_id)
            at = event.occurred_at.timestamp()
            if row.source.topic == self.pipeline.clock_topic:
                self.close_quarter_hours(event.tenant_id, at)  # on the tenant's event time
                if self.event_clock:
                    # evaluate the instants before this event, as live processing would have
                    raised += self.alerts.advance(event.tenant_id, at)
            self._show_live(event, row.sums, at)
        arrived = time.time()
        for tenant_id in sorted(touched):  # right away, not at the next tick
            self._arrived[tenant_id] = arrived
            raised += self.alerts.evaluate(tenant_id, self.live_now(tenant_id))
        return raised

    def _show_live(self, event: Event, sums: FigureSums, at: float) -> None:
        """Put one new, on-time event on the live boards."""
        self.alerts.changed(event.tenant_id)
        if isinstance(event, AgentStateChanged):
            self.agents.update(event.tenant_id, event.agent_id, event.state, event.queue_ids, at)
            return
        channel = str(getattr(event, "channel", None) or "")
        scope = (event.tenant_id, channel, getattr(event, "queue_id", None) or "")
        if isinstance(event, ContactQueued):
            self.live.queued(scope, event.contact_id, at)
        elif isinstance(event, ContactAnswered | ContactAbandoned):
            self.live.left_queue(scope, event.contact_id)
        if not sums.is_empty():
            self.live.add(scope, at, sums)
            self.anomalies.add(scope, at, sums)
            agent_id = getattr(event, "agent_id", None)
            if agent_id:  # per-agent figures, for agent-level rules
                self.alerts.agent_live.add((event.tenant_id, AGENT, agent_id), at, sums)

    def _restore_live(self) -> None:
        """Rebuild the live boards from the stored events of the last window, so that a
        restarted worker shows the same figures and does not resolve open alerts for want
        of data. (Stored events carry the figures they were judged to add.)"""
        span = self.settings.live_window_seconds + 3600  # the window, lateness and some slack
        if self.event_clock:
            marks = [
                m for key, m in self.pipeline.watermarks if key.endswith(self.pipeline.clock_topic)
            ]
            if not marks:
                return
            since = min(marks).timestamp() - span
        else:
            since = time.time() - span
        for tenant_id, topic, raw, sums in self.store.recent_events(since):
            try:
                event = validate_event(json.loads(raw))
            except (ValueError, InvalidEvent):
                continue  # stored by an older contract: not worth failing a start for
            self.recent.add((tenant_id, event.event_id))
            at = event.occurred_at.timestamp()
            if topic == self.pipeline.clock_topic:
                self.pipeline.event_time.advance(tenant_id, event.occurred_at)
            self._show_live(event, sums, at)

    def tick(self) -> list[AlertEvent]:
        """The once-a-second evaluation on the wall clock (live operation). A tenant that has
        sent nothing for ``anomaly_quiet_seconds`` has its quarter hours scored on the wall
        clock: silence is news, while a backlog (events still arriving) is not."""
        if self.event_clock:
            return []
        now = time.time()
        quiet = self.settings.anomaly_quiet_seconds
        for tenant_id in self.anomalies.tenants():
            if now - self._arrived.setdefault(tenant_id, now) >= quiet:
                self.close_quarter_hours(tenant_id, now - quiet + self.anomalies.grace)
        return self.alerts.evaluate_all(now)

    def live_now(self, tenant_id: str) -> float:
        """'Now' for the live window: the wall clock live, the tenant's event time on replay."""
        if self.event_clock:
            mark = self.pipeline.event_time.get(tenant_id)
            return mark.timestamp() if mark is not None else time.time()
        return time.time()

    def live_figures(self, tenant_id: str) -> list[dict[str, Any]]:
        now = self.live_now(tenant_id)
        return [f.as_dict() for f in self.live.figures(tenant_id, now)]

    def accept_config(self, value: bytes | None, key: bytes | None) -> TenantSettings:
        """Validate a ``cqm.config`` update and store it (blocking; executor). Raises
        InvalidConfig with a reason naming the tenant and rule; the old settings stay."""
        tenant = parse_tenant_config(value, key)
        self.store.save_tenant_config(tenant, "cqm.config")
        return tenant


def replay_in_process(
    settings: Settings, events: list[dict[str, Any]], batch: int = 500, first_offset: int = 0
) -> list[AlertEvent]:
    """Run events through the whole runtime (pipeline, store, live boards, alerts) without a
    broker, in batches; return the alerts raised. For tests and benchmarks."""
    runtime = Runtime(settings)
    runtime.start()
    messages = as_messages(events, settings.topic_prefix, first_offset)
    raised: list[AlertEvent] = []
    try:
        for first in range(0, len(messages), batch):
            raised += runtime.process(messages[first : first + batch])[2]
    finally:
        runtime.store.close()
    return raised


def create_app(settings: Settings, runtime: Runtime | None = None) -> faust.App:
    """Build the Faust app and its agents from one settings object (opens nothing)."""
    rt = runtime or Runtime(settings)
    if settings.broker is None:
        raise ValueError("the worker needs a broker address (kafka://HOST:PORT)")
    app = App(
        settings.app_id,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        broker=settings.broker,
        store="memory://",
        topic_partitions=settings.partitions,
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        datadir=str(settings.data_dir / "faust"),
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 5),
        producer_max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        consumer_max_fetch_size=max(settings.max_message_bytes * 2, 4_194_304),
    )
    app.cqm = rt  # type: ignore[attr-defined]
    raw: dict[str, Any] = {
        "value_type": bytes,
        "key_type": bytes,
        "value_serializer": "raw",
        "key_serializer": "raw",
        "partitions": settings.partitions,
    }
    inputs = app.topic(*settings.input_topics, **raw)
    deadletters = app.topic(settings.deadletter_topic, **raw)
    alerts_topic = app.topic(settings.alerts_topic, **raw)
    # keyed by tenant like the input topics, so a tenant's settings reach the worker that owns
    # its partition; compacted, so the latest settings of every tenant are kept
    config_topic = app.topic(settings.config_topic, compacting=True, **raw)

    async def dead_letter(letters: list[DeadLetter]) -> None:
        for dead in letters:
            await deadletters.send(
                key=dead.tenant_id.encode() or None,
                value=dead.raw,
                headers={
                    "cqm-reason": dead.reason.encode(),
                    "cqm-source": f"{dead.source.topic}/{dead.source.partition}/"
                    f"{dead.source.offset}".encode(),
                },
            )

    async def publish(events: list[AlertEvent]) -> None:
        """Alerts to Kafka and webhooks (the caller stores them); webhooks never block."""
        for event in events:
            await alerts_topic.send(
                key=event.alert_key.encode(), value=event.model_dump_json().encode()
            )
            for webhook in rt.tenants.get(event.tenant_id).webhooks:
                rt.webhooks.submit(webhook, event)

    @app.agent(inputs)
    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_seconds):
            messages = [
                Message(e.message.topic, e.message.partition, e.message.offset, e.key, e.value)
                for e in events
            ]
            if rt.counters.first_batch_at is None:
                rt.counters.first_batch_at = time.time()
            batch = await rt.run(rt.pipeline.prepare, messages)
            raised = rt.record_live(batch)
            await publish(raised)
            result = await rt.store_until_done(batch, raised)
            rt.counters.add(batch, result)
            await dead_letter(batch.dead_letters)

    @app.agent(config_topic)
    async def configure(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            try:
                tenant = await rt.run(rt.accept_config, event.value, event.key)
            except InvalidConfig as exc:
                log.warning("rejected a %s update: %s", settings.config_topic, exc)
                source = Message(
                    message.topic, message.partition, message.offset, event.key, event.value
                )
                tenant_hint = (event.key or b"").decode("utf-8", "replace")[:64]
                letter = DeadLetter(source, str(exc), event.value or b"", None, tenant_hint)
                await rt.run(rt.store.write, Batch(dead_letters=[letter], received=1))
                await dead_letter([letter])
                rt.counters.config_rejected += 1
                continue
            rt.tenants.set(tenant)
            rt.counters.config_accepted += 1
            log.info(
                "settings of tenant %s updated from %s", tenant.tenant_id, settings.config_topic
            )

    @app.task  # type: ignore[untyped-decorator]
    async def start_webhooks() -> None:
        await rt.webhooks.start()

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def evaluate_alerts() -> None:
        raised = rt.tick()
        await publish(raised)
        if raised:
            await rt.run(rt.store.write_alerts, raised)
        if rt.scored or rt.detectors:
            try:
                await rt.run(rt.store_anomalies)
            except Exception as exc:  # kept queued: the next batch or tick writes them
                log.error("storing anomaly scores failed, will retry: %s", exc)
        if rt.deliveries:
            done, rt.deliveries[:] = list(rt.deliveries), []
            await rt.run(rt.store.write_deliveries, done)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_webhooks(app: faust.App, *args: Any, **kwargs: Any) -> None:
        await rt.webhooks.stop()
        if rt.deliveries:
            await rt.run(rt.store.write_deliveries, list(rt.deliveries))

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        failing = rt.counters.last_store_error is not None
        status = 503 if failing else 200
        body = {"status": "degraded: ClickHouse writes failing" if failing else "ok"}
        return web.json({**body, **rt.counters.as_dict()}, status=status)

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json({**rt.counters.as_dict(), "webhooks": rt.webhooks.stats()})

    @app.page("/live/{tenant}")
    async def live(web: Any, request: Any, tenant: str) -> Any:
        return web.json(
            {
                "tenant_id": tenant,
                "window_seconds": settings.live_window_seconds,
                "as_of": datetime.fromtimestamp(rt.live_now(tenant), UTC).isoformat(),
                "scopes": rt.live_figures(tenant),
            }
        )

    @app.page("/config/{tenant}")
    async def tenant_config(web: Any, request: Any, tenant: str) -> Any:
        """The settings and rules in force for a tenant (webhook URLs redacted: secrets)."""
        settings_now = rt.tenants.get(tenant).model_dump(mode="json")
        for hook in settings_now["webhooks"]:
            hook["url"] = redact_url(hook["url"])
        rules = [
            r.model_dump(mode="json", by_alias=True) for r in rt.tenants.get(tenant).active_rules
        ]
        return web.json({**settings_now, "rules_in_force": rules})

    @app.page("/alerts/{tenant}")
    async def active_alerts(web: Any, request: Any, tenant: str) -> Any:
        events = [e for e in rt.alerts.engine.active() if e.tenant_id == tenant]
        return web.json(
            {"tenant_id": tenant, "active": [e.model_dump(mode="json") for e in events]}
        )

    return app
