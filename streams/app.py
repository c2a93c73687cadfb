"""The Faust application: one agent reads the four input topics, a few lines per batch.

decode + judge (pipeline, pure) → store (ClickHouse, on one executor thread) → dead letters to
Kafka → live board. Offsets are committed only after a batch is stored (``take_events`` acks
after the loop body), so a crash redelivers and the idempotent store absorbs the repeat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import faust

from processors.lateness import Watermarks
from processors.live import LiveBoard
from schemas.events import AgentStateChanged, ContactAbandoned, ContactAnswered, ContactQueued
from schemas.tenants import TenantDirectory
from streams.pipeline import Batch, Message, Pipeline
from streams.settings import Settings
from streams.store import Store, WriteResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Counters:
    """Every input is accounted for: received = valid + duplicates + dead letters."""

    received: int = 0
    valid: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    late: int = 0
    batches: int = 0
    first_batch_at: float | None = None  # when the first batch of this process was stored
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
        if self.first_batch_at is None:
            self.first_batch_at = self.last_batch_at
        for row in result.new:
            tenant = row.event.tenant_id
            self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1

    @property
    def processed(self) -> int:
        return self.valid + self.duplicates + self.dead_letters

    @property
    def busy_seconds(self) -> float:
        """From the first stored batch to the last (includes time spent waiting for input)."""
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
            "batches": self.batches,
            "valid_by_tenant": dict(sorted(self.by_tenant.items())),
        }


class Runtime:
    """What the agent needs, built from the settings; nothing connects until ``start``."""

    def __init__(self, settings: Settings, tenants: TenantDirectory | None = None) -> None:
        self.settings = settings
        self.tenants = tenants or settings.tenants()
        self.store = Store(settings.clickhouse_dsn, settings.clickhouse_database, self.tenants)
        self.pipeline = Pipeline(
            self.tenants, settings.input_topics, Watermarks(), settings.max_message_bytes
        )
        self.live = LiveBoard(settings.live_window_seconds)
        self.counters = Counters()
        # chDB is one in-process engine: every ClickHouse call goes through this one thread
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cqm-store")

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def start(self) -> None:
        """Open ClickHouse, apply migrations, restore watermarks (blocking)."""
        (self.settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
        self.store.open()
        self.store.migrate()
        self.pipeline.watermarks = Watermarks(self.store.watermarks())

    def handle(self, messages: list[Message]) -> tuple[Batch, WriteResult]:
        """Prepare and store one batch (blocking; executor)."""
        batch = self.pipeline.prepare(messages)
        return batch, self.store.write(batch)

    def record(self, batch: Batch, result: WriteResult) -> None:
        """Count a stored batch and move the live board (event loop: the web reads these)."""
        self.counters.add(batch, result)
        for row in result.new:
            event = row.event
            if row.late or isinstance(event, AgentStateChanged):
                continue  # late events update stored intervals only (METRICS.md)
            channel = str(getattr(event, "channel", None) or "")
            scope = (event.tenant_id, channel, getattr(event, "queue_id", None) or "")
            at = event.occurred_at.timestamp()
            if isinstance(event, ContactQueued):
                self.live.queued(scope, event.contact_id, at)
            elif isinstance(event, ContactAnswered | ContactAbandoned):
                self.live.left_queue(scope, event.contact_id)
            if not row.sums.is_empty():
                self.live.add(scope, at, row.sums)

    def live_now(self, tenant_id: str) -> float:
        """'Now' for the live window: the wall clock live, the tenant's event time on replay."""
        if self.settings.live_clock == "event":
            mark = self.pipeline.watermarks.get(tenant_id)
            return mark.timestamp() if mark is not None else time.time()
        return time.time()

    def live_figures(self, tenant_id: str) -> list[dict[str, Any]]:
        now = self.live_now(tenant_id)
        return [f.as_dict() for f in self.live.figures(tenant_id, now)]


def create_app(settings: Settings, runtime: Runtime | None = None) -> faust.App:
    """Build the Faust app and its agent from one settings object (opens nothing)."""
    rt = runtime or Runtime(settings)
    if settings.broker is None:
        raise ValueError("the worker needs a broker address (kafka://HOST:PORT)")
    app = faust.App(
        settings.app_id,
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
    }
    inputs = app.topic(*settings.input_topics, partitions=settings.partitions, **raw)
    deadletters = app.topic(settings.deadletter_topic, partitions=settings.partitions, **raw)

    @app.agent(inputs)
    async def ingest(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_seconds):
            messages = [
                Message(e.message.topic, e.message.partition, e.message.offset, e.key, e.value)
                for e in events
            ]
            batch, result = await rt.run(rt.handle, messages)
            for dead in batch.dead_letters:
                await deadletters.send(
                    key=dead.tenant_id.encode() or None,
                    value=dead.raw,
                    headers={
                        "cqm-reason": dead.reason.encode(),
                        "cqm-source": f"{dead.source.topic}/{dead.source.partition}/"
                        f"{dead.source.offset}".encode(),
                    },
                )
            rt.record(batch, result)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", **rt.counters.as_dict()})

    @app.page("/stats")
    async def stats(web: Any, request: Any) -> Any:
        return web.json(rt.counters.as_dict())

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

    return app
