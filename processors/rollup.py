"""Interval figures for every scope from per-queue sums: roll-ups add, never average.

Pure. The store hands over one :class:`QueueSums` per (tenant, channel, queue) and 15-minute
interval — with the starts of the 30/60-minute and day intervals containing it — and asks for
the intervals it needs to rewrite; this adds them up into the queue, channel and tenant scopes.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
>>> starts = {Interval.m15: t, Interval.m30: t, Interval.m60: t, Interval.day: t}
>>> parts = [QueueSums("acme", "voice", "billing", starts, FigureSums(answered=1, sl_den=1)),
...          QueueSums("acme", "voice", "sales", starts,
...                    FigureSums(answered=1, sl_num=1, sl_den=1))]
>>> out = roll_up(parts, {("acme", Interval.m60, t)})
>>> sorted((k.scope, k.queue_id, v.sums.figures()["service_level_pct"]) for k, v in out.items())
[('channel', '', 50.0), ('queue', 'billing', 0.0), ('queue', 'sales', 100.0), ('tenant', '', 50.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from processors.figures import FigureSums
from processors.intervals import Interval


@dataclass(frozen=True, slots=True)
class QueueSums:
    tenant_id: str
    channel: str
    queue_id: str
    starts: Mapping[Interval, datetime]
    sums: FigureSums
    late_events: int = 0


@dataclass(frozen=True, slots=True, order=True)
class IntervalKey:
    tenant_id: str
    interval: Interval
    scope: str  # "queue", "channel" or "tenant"
    channel: str
    queue_id: str
    start: datetime


@dataclass(slots=True)
class IntervalTotals:
    sums: FigureSums = field(default_factory=FigureSums)
    late_events: int = 0


Wanted = set[tuple[str, Interval, datetime]]  # (tenant_id, interval, start)


def roll_up(parts: Iterable[QueueSums], wanted: Wanted) -> dict[IntervalKey, IntervalTotals]:
    """Totals for each wanted (tenant, interval, start), at queue, channel and tenant scope."""
    out: dict[IntervalKey, IntervalTotals] = {}
    for part in parts:
        for interval, start in part.starts.items():
            if (part.tenant_id, interval, start) not in wanted:
                continue
            for scope, channel, queue_id in (
                ("queue", part.channel, part.queue_id),
                ("channel", part.channel, ""),
                ("tenant", "", ""),
            ):
                key = IntervalKey(part.tenant_id, interval, scope, channel, queue_id, start)
                totals = out.get(key)
                if totals is None:
                    out[key] = totals = IntervalTotals()
                totals.sums += part.sums
                totals.late_events += part.late_events
    return out
