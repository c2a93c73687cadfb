"""From Kafka messages to rows for the store: decode, validate, judge, place in intervals.

No I/O: the Faust agent hands a batch of messages in, and gets back the event rows and dead
letters to write. Everything here is synchronous and runs off the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processors.figures import FigureSums, contribution
from processors.intervals import Interval, IntervalCalendar
from processors.lateness import Watermarks
from schemas.decode import Accepted, decode_message
from schemas.events import TOPIC_OF_TYPE, Event, InputTopic
from schemas.tenants import TenantDirectory

INTERVALS = tuple(Interval)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class EventRow:
    event: Event
    raw: str
    sums: FigureSums
    starts: dict[Interval, datetime]
    late: bool
    source: Message


@dataclass(frozen=True, slots=True)
class DeadLetter:
    source: Message
    reason: str
    raw: bytes
    index: int | None
    tenant_id: str


@dataclass(slots=True)
class Batch:
    rows: list[EventRow] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    received: int = 0  # events (elements of batch envelopes) and undecodable messages


class Pipeline:
    def __init__(
        self,
        tenants: TenantDirectory,
        input_topics: dict[str, InputTopic],
        watermarks: Watermarks | None = None,
        max_message_bytes: int = 1_000_000,
    ) -> None:
        self.tenants = tenants
        self.input_topics = input_topics
        self.watermarks = watermarks or Watermarks()  # per (tenant, topic): lateness
        # per tenant: "now" for the live view and alerts on event time. The contacts stream
        # carries the service figures, and order holds only within a topic: other topics can be
        # read ahead of it during a backlog, so they do not move this clock.
        self.event_time = Watermarks()
        self.clock_topic = next(
            t for t, kind in input_topics.items() if kind is InputTopic.contacts
        )
        self.max_message_bytes = max_message_bytes
        self._calendars: dict[str, IntervalCalendar] = {}

    def prepare(self, messages: list[Message]) -> Batch:
        batch = Batch()
        for message in messages:
            topic = self.input_topics.get(message.topic)
            decoded = decode_message(message.value, topic, self.max_message_bytes)
            batch.received += len(decoded)
            for item in decoded:
                if isinstance(item, Accepted):
                    batch.rows.append(self._row(item, message))
                else:
                    tenant = _tenant_hint(item.raw, message.key)
                    batch.dead_letters.append(
                        DeadLetter(message, item.reason, item.raw, item.index, tenant)
                    )
        return batch

    def _row(self, item: Accepted, message: Message) -> EventRow:
        event = item.event
        tenant = self.tenants.get(event.tenant_id)
        calendar = self._calendars.get(tenant.timezone)
        if calendar is None:
            calendar = self._calendars[tenant.timezone] = IntervalCalendar(
                ZoneInfo(tenant.timezone)
            )
        starts = {interval: calendar.start(event.occurred_at, interval) for interval in INTERVALS}
        allowed = timedelta(seconds=tenant.allowed_lateness_seconds)
        # Order is only guaranteed within a partition, and a tenant's events of each type come
        # on their own topic: lateness is judged per (tenant, topic), so a backlog read faster
        # from one topic than another does not make the slower one's events "late".
        stream = f"{event.tenant_id}/{message.topic}"
        late = self.watermarks.observe(stream, event.occurred_at, allowed)
        if message.topic == self.clock_topic:
            self.event_time.advance(event.tenant_id, event.occurred_at)
        return EventRow(event, item.raw, contribution(event, tenant), starts, late, message)


def as_messages(
    events: Iterable[dict[str, Any]], topic_prefix: str = "cqm.", first_offset: int = 0
) -> list[Message]:
    """Event dicts as the Kafka messages a producer would send them in (topic by type, key by
    tenant, one partition): for tests and benchmarks that drive the pipeline without a broker."""
    return [
        Message(
            f"{topic_prefix}{TOPIC_OF_TYPE[e['event_type']].value}", 0, first_offset + n,
            e["tenant_id"].encode(), json.dumps(e).encode(),
        )
        for n, e in enumerate(events)
    ]  # fmt: skip


def _tenant_hint(raw: bytes, key: bytes | None) -> str:
    """The tenant a dead letter probably belongs to, so a tenant can see its own rejects."""
    try:
        obj = json.loads(raw)
        if isinstance(obj, dict) and isinstance(obj.get("tenant_id"), str):
            return str(obj["tenant_id"])[:64]
    except (ValueError, UnicodeDecodeError):
        pass
    if key:
        return key.decode("utf-8", "replace")[:64]
    return ""
