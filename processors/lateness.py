"""Per-tenant event-time watermarks and the late-event rule (shared/METRICS.md, "Late events").

The watermark of a tenant is the latest ``occurred_at`` seen from it. An event more than
``allowed_lateness`` behind its tenant's watermark is *late*: it is still stored and still
updates its stored interval, but it no longer moves the live figures, and it is counted.

>>> from datetime import UTC, datetime, timedelta
>>> w = Watermarks()
>>> t0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
>>> w.observe("acme", t0, timedelta(minutes=10))
False
>>> w.observe("acme", t0 - timedelta(minutes=9), timedelta(minutes=10))
False
>>> w.observe("acme", t0 - timedelta(minutes=11), timedelta(minutes=10))
True
>>> w.get("acme") == t0
True
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta


class Watermarks:
    def __init__(self, initial: dict[str, datetime] | None = None) -> None:
        self._marks: dict[str, datetime] = dict(initial or {})

    def is_late(self, tenant_id: str, occurred_at: datetime, allowed: timedelta) -> bool:
        mark = self._marks.get(tenant_id)
        return mark is not None and occurred_at < mark - allowed

    def advance(self, tenant_id: str, occurred_at: datetime) -> None:
        mark = self._marks.get(tenant_id)
        if mark is None or occurred_at > mark:
            self._marks[tenant_id] = occurred_at

    def observe(self, tenant_id: str, occurred_at: datetime, allowed: timedelta) -> bool:
        """Say whether the event is late, then let it advance the watermark."""
        late = self.is_late(tenant_id, occurred_at, allowed)
        self.advance(tenant_id, occurred_at)
        return late

    def get(self, tenant_id: str) -> datetime | None:
        return self._marks.get(tenant_id)

    def __iter__(self) -> Iterator[tuple[str, datetime]]:
        return iter(self._marks.items())
