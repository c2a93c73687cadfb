r"""Reporting intervals (15, 30, 60 minutes and the day) aligned to a tenant's IANA time zone.

METRICS.md "Intervals". Work in "wall seconds": ``utc_epoch + utc_offset``, the local clock
reading counted from 1970-01-01 00:00 local. A *grid time* is a wall second divisible by the
interval length (900, 1800, 3600 s, or 86400 s for the day, i.e. local midnight).

* A 15/30/60-minute interval starts at every instant at which the local clock shows a grid time,
  so after a fall-back the repeated hour holds two distinct intervals (different UTC starts).
  If the clock jumps over a grid time (a DST gap), the interval starts at the jump: the first
  real instant at or after that wall time.
* A day starts at the first instant at which the local clock reaches (or jumps over) its
  midnight, so change days last 23 or 25 hours; a fall-back that repeats midnight (Havana) makes
  no second "day". Where the clock briefly steps back into the previous date (Newfoundland's
  00:01 changes until 2011), those instants stay in the day already begun.

Every interval ends where the next one starts, so intervals tile time: each instant lies in
exactly one. The exact path scans the zone's offset transitions by probing ``utcoffset`` every 6
hours and bisecting to the second; this relies on offset changes being more than 6 hours apart
(in tzdata 2025b the closest pair, anywhere and ever, is 4 days apart).

>>> from datetime import datetime, timezone
>>> from zoneinfo import ZoneInfo
>>> when = datetime(2026, 1, 15, 10, 7, tzinfo=timezone.utc)  # 15:52 in Kathmandu (+05:45)
>>> interval_start(when, ZoneInfo("Asia/Kathmandu"), Interval.m30)  # local 15:30
datetime.datetime(2026, 1, 15, 9, 45, tzinfo=datetime.timezone.utc)
>>> fall_back = datetime(2026, 10, 25, 12, 0, tzinfo=timezone.utc)
>>> start, end = interval_bounds(fall_back, ZoneInfo("Europe/Paris"), Interval.day)
>>> start, (end - start).total_seconds() / 3600  # midnight CEST; the day lasts 25 hours
(datetime.datetime(2026, 10, 24, 22, 0, tzinfo=datetime.timezone.utc), 25.0)

Speed, on one core of the (shared, noisy) development container, best of 3 per run, varying
between runs: ``IntervalCalendar.start`` ran 0.8-1.5 million calls/s for events in time order
(Europe/Paris, one event a minute through 2026 with both changes, the four intervals each),
0.3-0.45 million/s for the same events shuffled, and 0.17-0.24 million/s for instants scattered
over 1990-2040. The exact functions take 10-50 µs per call. Measured from the repository root
with (add ``random.Random(1).shuffle(events)`` to the setup for the shuffled figure)::

    .venv/bin/python -m timeit -n 1 -r 3 -s "from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo; from processors.intervals import Interval, IntervalCalendar
    events = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=60 * i + 0.5)
              for i in range(525_600)]
    zone, kinds = ZoneInfo('Europe/Paris'), list(Interval)" \
      "start = IntervalCalendar(zone).start" "for e in events:" "    for k in kinds: start(e, k)"
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

__all__ = ["Interval", "IntervalCalendar", "interval_bounds", "interval_end", "interval_start"]


class Interval(StrEnum):
    """Reporting interval; the value is what is stored (``"15"``, ``"30"``, ``"60"``, ``"day"``)."""

    m15 = "15"
    m30 = "30"
    m60 = "60"
    day = "day"

    @property
    def minutes(self) -> int | None:
        """Nominal length in minutes; ``None`` for the day, whose length varies (23-25 h)."""
        return None if self is Interval.day else int(self.value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_HOUR = 3600
_DAY = 86400
_STEP = {Interval.m15: 900, Interval.m30: 1800, Interval.m60: 3600, Interval.day: _DAY}
_PROBE = 6 * _HOUR
# Whether a midnight was already reached depends on earlier walls; the largest backward jump
# in tzdata is 23 h (Kwajalein, 1969), so two days of history settle it.
_DAY_LOOKBACK = 2 * _DAY


def _epoch(instant: datetime, where: str) -> int:
    """Whole UTC epoch seconds, floored; exact (no float) so sub-second instants never round up."""
    try:
        return (instant - _EPOCH) // _SECOND
    except TypeError:  # subtracting aware from naive; cheaper than checking utcoffset() first
        if instant.utcoffset() is not None:
            raise
        raise ValueError(
            f"{where}: got naive datetime {instant.isoformat()}, which could mean any moment; "
            "pass a time-zone-aware datetime, e.g. instant.replace(tzinfo=timezone.utc) if it "
            "is UTC"
        ) from None


def _utc(epoch: int) -> datetime:
    return _EPOCH + timedelta(seconds=epoch)


def _offset(zone: ZoneInfo, epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, zone).utcoffset()
    return 0 if offset is None else offset // _SECOND


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def _segments(zone: ZoneInfo, a: int, b: int) -> list[tuple[int, int]]:
    """(first second, UTC offset) of each stretch of constant offset that overlaps [a, b]."""
    segments = [(a, _offset(zone, a))]
    lo = a
    while lo < b:
        hi = min(lo + _PROBE, b)
        current = segments[-1][1]
        if _offset(zone, hi) == current:
            lo = hi
            continue
        while hi - lo > 1:  # bisect to the first second of the new offset
            mid = (lo + hi) // 2
            if _offset(zone, mid) == current:
                lo = mid
            else:
                hi = mid
        segments.append((hi, _offset(zone, hi)))
        lo = hi
    return segments


def _starts(zone: ZoneInfo, step: int, a: int, b: int) -> list[int]:
    """Interval starts in [a, b], ascending, as UTC epoch seconds (the definition above)."""
    first_reach = step == _DAY
    segments = _segments(zone, a - (_DAY_LOOKBACK if first_reach else 1), b)
    top = segments[0][0] - 1 + segments[0][1]  # highest wall second shown so far
    starts = []
    for i, (u0, offset) in enumerate(segments):
        u1 = segments[i + 1][0] if i + 1 < len(segments) else b + 1
        # Grid times after `seen` are new: for days, anything above the highest wall shown; for
        # shorter intervals, anything not skipped over, so a repeated hour counts again.
        seen = top if first_reach or i == 0 else u0 - 1 + min(offset, segments[i - 1][1])
        if _ceil(seen + 1, step) <= u0 + offset:  # shown at u0 or jumped over at u0
            starts.append(u0)
        wall = _ceil(max(seen, u0 + offset) + 1, step)
        while wall <= u1 - 1 + offset:
            starts.append(wall - offset)
            wall += step
        top = max(top, u1 - 1 + offset)
    return [s for s in starts if a <= s <= b]


def _exact_start(zone: ZoneInfo, step: int, t: int) -> int:
    width = step + 2 * _HOUR  # covers 25-hour days; widened for stranger zones
    while not (found := _starts(zone, step, t - width, t)):
        width *= 2
    return found[-1]


def _exact_end(zone: ZoneInfo, step: int, t: int) -> int:
    width = step + 2 * _HOUR
    while not (found := _starts(zone, step, t + 1, t + width)):
        width *= 2
    return found[0]


def interval_start(instant: datetime, zone: ZoneInfo, interval: Interval) -> datetime:
    """Start (aware, UTC) of the `interval` in `zone` containing `instant` (aware, any zone)."""
    return _utc(_exact_start(zone, _STEP[interval], _epoch(instant, "interval_start")))


def interval_end(start: datetime, zone: ZoneInfo, interval: Interval) -> datetime:
    """Start of the next interval: the end of the interval containing `start` (aware, UTC)."""
    return _utc(_exact_end(zone, _STEP[interval], _epoch(start, "interval_end")))


def interval_bounds(
    instant: datetime, zone: ZoneInfo, interval: Interval
) -> tuple[datetime, datetime]:
    """(start, end) of the interval containing `instant`; start <= instant < end."""
    t = _epoch(instant, "interval_bounds")
    step = _STEP[interval]
    return _utc(_exact_start(zone, step, t)), _utc(_exact_end(zone, step, t))


# Cached knowledge of one UTC day or hour: (offset, earliest vouched start for 15/30/60-minute
# intervals, earliest vouched day start), or None when the offset changes within it.
_Bucket = tuple[int, int, int] | None


class IntervalCalendar:
    """Fast ``interval_start`` for one zone, for the per-event path; same answers.

    Per UTC day it caches the offset and the earliest start that the constant offset vouches
    for; there a start is integer arithmetic on epoch seconds. Days with an offset change are
    cached per hour instead, and only instants whose interval reaches back across a change take
    the exact path. Building a datetime costs more than the arithmetic, so the last interval per
    length and recent start datetimes are kept: consecutive events mostly share them.
    """

    _MAX_CACHED = 1 << 16  # per dict (days: 179 years); cleared, not evicted, when full

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._days: dict[int, _Bucket] = {}
        self._hours: dict[int, _Bucket] = {}  # only for days with an offset change
        self._last: dict[int, tuple[int, int, datetime]] = {}  # step -> (start, known end, dt)
        self._datetimes: dict[int, datetime] = {}

    def start(self, instant: datetime, interval: Interval) -> datetime:
        """Start (aware, UTC) of the `interval` containing `instant`; see `interval_start`."""
        t = _epoch(instant, "IntervalCalendar.start")
        step = _STEP[interval]
        last = self._last.get(step)
        if last is not None and last[0] <= t < last[1]:
            return last[2]
        day = t // _DAY
        bucket = self._days[day] if day in self._days else self._learn(self._days, day, _DAY)
        bucket_end = (day + 1) * _DAY
        if bucket is None:
            hour = t // _HOUR
            hours = self._hours
            bucket = hours[hour] if hour in hours else self._learn(hours, hour, _HOUR)
            bucket_end = (hour + 1) * _HOUR
        start = None
        if bucket is not None:
            offset, vouched_short, vouched_day = bucket
            local = t + offset
            start = local - local % step - offset
            # No start lies in (start, end of the bucket], nor before start + step.
            known_end = min(start + step, bucket_end)
            if start < (vouched_day if step == _DAY else vouched_short):
                start = None
        if start is None:
            start = _exact_start(self.zone, step, t)
            known_end = _exact_end(self.zone, step, t)
        result = self._datetimes.get(start)
        if result is None:
            if len(self._datetimes) >= self._MAX_CACHED:
                self._datetimes.clear()
            result = self._datetimes[start] = _utc(start)
        self._last[step] = (start, known_end, result)
        return result

    def _learn(self, cache: dict[int, _Bucket], key: int, length: int) -> _Bucket:
        lo = key * length
        bucket = cache.get(key - 1)
        # Events in time order learn a bucket with a short look at its own span when the offset
        # is unchanged since the previous one, instead of scanning the day before it.
        if bucket is None or _segments(self.zone, lo - 1, lo + length - 1) != [(lo - 1, bucket[0])]:
            bucket = self._scan(lo, length)
        if len(cache) >= self._MAX_CACHED:
            cache.clear()
        cache[key] = bucket
        return bucket

    def _scan(self, lo: int, length: int) -> _Bucket:
        segments = _segments(self.zone, lo - _DAY - _DAY_LOOKBACK, lo + length - 1)
        since, offset = segments[-1]
        if since > lo:  # the offset changes within the bucket
            return None
        # A start is vouched for if the offset held from it on; a day start also needs its
        # midnight above every wall shown before (after a fall-back it may have been).
        top = max(
            (nxt[0] - 1 + seg[1] for seg, nxt in pairwise(segments)),
            default=since - 1 + offset,
        )
        return (offset, since, max(since, top + 1 - offset))
