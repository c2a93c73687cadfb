"""The live view: trailing-window figures per scope, and who is waiting right now.

Pure and clock-free: every call takes ``now`` (epoch seconds), so live operation passes the
wall clock and a replay passes the tenant's watermark, and both show the same thing.

>>> w = TrailingWindow(length_seconds=900)
>>> w.add(1000.0, FigureSums(answered=1, sl_num=1, sl_den=1))
>>> w.add(1500.0, FigureSums(answered=1, sl_den=1))
>>> w.total(1600.0).figures()["service_level_pct"]
50.0
>>> w.total(1950.0).answered  # the first answer has left the 15-minute window
1
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from processors.figures import FigureSums

MAX_WAITING_SECONDS = 4 * 3600  # a contact waiting longer is dropped from the "now" view


class TrailingWindow:
    """Sums over the trailing ``length_seconds`` ending at ``now``, kept in small slots.

    A running total: ``total(now)`` adds slots that ``now`` has reached and takes out those
    that left the window, so asking every second costs the slots that moved, not the window.
    Slots ahead of ``now`` (an event-time replay can read one topic ahead of another) wait
    until ``now`` reaches them.
    """

    def __init__(self, length_seconds: float = 900.0, slot_seconds: float = 1.0) -> None:
        self.length = length_seconds
        self.slot = slot_seconds
        self._slots: dict[int, FigureSums] = {}
        self._counted: list[int] = []  # heap of slot keys inside the running total
        self._ahead: list[int] = []  # heap of slot keys beyond the newest ``now`` so far
        self._total = FigureSums()
        self._newest = -math.inf
        self._oldest = -math.inf

    def add(self, at: float, sums: FigureSums) -> None:
        key = math.floor(at / self.slot)
        if key <= self._oldest:
            return  # already out of the window: it can never count again
        slot = self._slots.get(key)
        if slot is None:
            self._slots[key] = slot = FigureSums()
            heapq.heappush(self._counted if key <= self._newest else self._ahead, key)
        slot += sums
        if key <= self._newest:
            self._total += sums

    def total(self, now: float) -> FigureSums:
        """The sums of events in (now - length, now]."""
        oldest = math.floor((now - self.length) / self.slot)
        newest = math.floor(now / self.slot)
        if newest < self._newest:  # the clock went back (wall-clock step): start over
            self._rebuild()
        self._newest, self._oldest = newest, oldest
        while self._ahead and self._ahead[0] <= newest:
            key = heapq.heappop(self._ahead)
            heapq.heappush(self._counted, key)
            self._total += self._slots[key]
        while self._counted and self._counted[0] <= oldest:
            self._total -= self._slots.pop(heapq.heappop(self._counted))
        while self._ahead and self._ahead[0] <= oldest:  # jumped past them entirely
            del self._slots[heapq.heappop(self._ahead)]
        result = FigureSums()
        result += self._total
        waits = [w for k in self._counted if (w := self._slots[k].max_wait) is not None]
        result.max_wait = max(waits) if waits else None
        return result

    def next_change(self) -> float:
        """The earliest ``now`` at which ``total`` can differ without new events."""
        times = []
        if self._counted:  # the oldest counted slot leaves the window
            times.append((self._counted[0] + 1) * self.slot + self.length)
        if self._ahead:  # the first slot ahead comes in
            times.append(self._ahead[0] * self.slot)
        return min(times, default=math.inf)

    def _rebuild(self) -> None:
        keys = sorted(self._slots)
        self._counted, self._ahead, self._total = [], keys, FigureSums()
        self._newest = self._oldest = -math.inf

    def __len__(self) -> int:
        return len(self._slots)


@dataclass(slots=True)
class Waiting:
    """Contacts queued and not yet answered or abandoned, for one scope."""

    since: dict[str, float] = field(default_factory=dict)  # contact_id -> queued at
    done: set[str] = field(default_factory=set)  # answered/abandoned before queued arrived

    def queued(self, contact_id: str, at: float) -> None:
        if contact_id in self.done:
            self.done.discard(contact_id)
        else:
            self.since[contact_id] = at

    def left(self, contact_id: str) -> None:
        if self.since.pop(contact_id, None) is None:
            self.done.add(contact_id)  # out of order: the queued event may still come

    def snapshot(self, now: float) -> tuple[int, float | None]:
        """(in_queue_now, longest_waiting_now_seconds), dropping contacts waiting > 4 h.

        >>> w = Waiting(); w.queued("c1", 100.0); w.queued("c2", 160.0); w.left("c1")
        >>> w.snapshot(200.0)
        (1, 40.0)
        """
        stale = [c for c, at in self.since.items() if now - at > MAX_WAITING_SECONDS]
        for contact_id in stale:
            del self.since[contact_id]
        if len(self.done) > 10_000:  # a queued event that never comes must not leak memory
            self.done.clear()
        if not self.since:
            return 0, None
        return len(self.since), max(0.0, now - min(self.since.values()))


Scope = tuple[str, str, str]  # (tenant_id, channel, queue_id); "" marks a roll-up level


@dataclass(frozen=True, slots=True)
class LiveFigures:
    scope: Scope
    sums: FigureSums
    in_queue_now: int
    longest_waiting_now_seconds: float | None

    def as_dict(self) -> dict[str, object]:
        tenant_id, channel, queue_id = self.scope
        return {
            "tenant_id": tenant_id,
            "channel": channel,
            "queue_id": queue_id,
            **self.sums.counts(),
            **self.sums.figures(),
            "in_queue_now": self.in_queue_now,
            "longest_waiting_now_seconds": self.longest_waiting_now_seconds,
        }


class LiveBoard:
    """Live figures for every (tenant, channel, queue), rolled up to channel and tenant."""

    def __init__(self, window_seconds: float = 900.0) -> None:
        self.window_seconds = window_seconds
        self._windows: dict[Scope, TrailingWindow] = {}
        self._waiting: dict[Scope, Waiting] = {}

    def add(self, scope: Scope, at: float, sums: FigureSums) -> None:
        window = self._windows.get(scope)
        if window is None:
            self._windows[scope] = window = TrailingWindow(self.window_seconds)
        window.add(at, sums)

    def queued(self, scope: Scope, contact_id: str, at: float) -> None:
        self._waiting.setdefault(scope, Waiting()).queued(contact_id, at)

    def left_queue(self, scope: Scope, contact_id: str) -> None:
        self._waiting.setdefault(scope, Waiting()).left(contact_id)

    def next_change(self, tenant_id: str) -> float:
        """The earliest instant at which this tenant's live figures can change without new
        events (-inf while anyone is waiting: their waiting time grows every second)."""
        if any(s[0] == tenant_id and w.since for s, w in self._waiting.items()):
            return -math.inf
        windows = (w.next_change() for s, w in self._windows.items() if s[0] == tenant_id)
        return min(windows, default=math.inf)

    def tenants(self) -> list[str]:
        return sorted({scope[0] for scope in self._windows} | {s[0] for s in self._waiting})

    def figures(self, tenant_id: str, now: float) -> list[LiveFigures]:
        """Queue scopes, then their channel and tenant roll-ups (sums added, never averaged).

        >>> b = LiveBoard()
        >>> b.add(("acme", "voice", "billing"), 10.0, FigureSums(answered=1, sl_den=1))
        >>> b.add(("acme", "voice", "sales"), 10.0, FigureSums(answered=3, sl_num=3, sl_den=3))
        >>> [(f.scope, f.sums.figures()["service_level_pct"]) for f in b.figures("acme", 20.0)]
        ... # doctest: +NORMALIZE_WHITESPACE
        [(('acme', 'voice', 'billing'), 0.0), (('acme', 'voice', 'sales'), 100.0),
         (('acme', 'voice', ''), 75.0), (('acme', '', ''), 75.0)]
        """
        totals: dict[Scope, FigureSums] = {}
        queues: dict[Scope, tuple[int, float | None]] = {}
        for scope in sorted(set(self._windows) | set(self._waiting)):
            if scope[0] != tenant_id:
                continue
            window = self._windows.get(scope)
            sums = window.total(now) if window is not None else FigureSums()
            waiting = self._waiting.get(scope)
            waiting_now = waiting.snapshot(now) if waiting is not None else (0, None)
            _, channel, queue_id = scope
            levels = ((tenant_id, channel, queue_id), (tenant_id, channel, ""), (tenant_id, "", ""))
            for level in dict.fromkeys(levels):  # a scope with no channel is its own roll-up
                total = totals.setdefault(level, FigureSums())
                total += sums
                count, longest = queues.get(level, (0, None))
                n, wait = waiting_now
                if wait is not None and (longest is None or wait > longest):
                    longest = wait
                queues[level] = (count + n, longest)
        order = sorted(totals, key=lambda s: (s[1] == "", s[2] == "", s))
        return [LiveFigures(s, totals[s], *queues[s]) for s in order]
