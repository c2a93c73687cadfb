"""Anomaly detectors on live traffic: one per (scope, figure), fed at each 15-minute boundary.

Events are summed per 15-minute interval and scope as they arrive (``add``). When the clock
passes an interval's end plus ``grace`` (``close``), every series of the tenant is scored with
its :class:`~processors.anomaly.SeasonalDetector` and then learns the point:

- volume (``offered``) is fed for every queue ever seen, 0 when nothing came, so a silent queue
  is a run of zeros where traffic was expected;
- a rate figure (ASA, AHT, abandon rate, CSAT …) is fed only when the interval has at least
  ``min_sample`` contacts behind it (responses for CSAT), so two calls at night are not news;
- queues roll up into their channel and the tenant, as on the live board (sums, never averages).

What a close found is kept until the next close: :meth:`figures` gives a scope's scores as
figures for the rule engine (``anomaly_score`` = the highest, ``anomaly_<figure>`` each) and
:meth:`findings` why (expected value and band, observed value, since when). Intervals are UTC
quarter hours, which are local quarter hours in every time zone in use (offsets are multiples
of 15 minutes). Pure and clock-free, like :mod:`processors.live`.

>>> from schemas.alerts import AnomalySettings
>>> watch, cfg = AnomalyWatch(grace_seconds=60), AnomalySettings(figures=("offered",))
>>> billing = ("acme", "voice", "billing")
>>> for day in range(8):  # a week of 10 calls per quarter hour, then a surge
...     for q in range(96):
...         start = (day * 96 + q) * 900.0
...         for i in range(10 if day < 7 or q != 40 else 40):
...             watch.add(billing, start + i, FigureSums(answered=1))
...         found = watch.close("acme", start + 900 + 60, cfg)
>>> [(f.scope, f.observed, f.expected) for f in watch.history if f.score > 0.9]
... # doctest: +NORMALIZE_WHITESPACE
[(('acme', 'voice', 'billing'), 40.0, 10.0), (('acme', 'voice', ''), 40.0, 10.0),
 (('acme', '', ''), 40.0, 10.0)]
>>> figures, samples = watch.figures(billing)  # the last quarter hour was normal again
>>> sorted(figures), figures["anomaly_score"] < 0.1, samples
(['anomaly_offered', 'anomaly_score'], True, {'anomaly_points': 767})
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from processors.anomaly import SeasonalDetector
from processors.figures import FigureSums
from schemas.alerts import FIGURE_SAMPLES, AnomalySettings

INTERVAL = 900.0  # seconds: the quarter hour
# heavy-tailed times: the detector sees log(1 + seconds), so a change is judged as a ratio
LOG_FIGURES = frozenset({"asa_seconds", "aht_seconds", "max_wait_seconds"})
MAX_GAP_INTERVALS = 7 * 96  # a longer silence (a stopped worker) is skipped, not zero-filled
Scope = tuple[str, str, str]  # (tenant_id, channel, queue_id); "" marks a roll-up level


@dataclass(frozen=True, slots=True)
class Finding:
    """One scored point: a series' value in one interval, and what was expected."""

    scope: Scope
    figure: str
    interval_start: float  # epoch seconds
    observed: float
    expected: float  # before learning this point: what the detector expected
    lower: float  # the band where a value alone would score below 0.5
    upper: float
    score: float  # 0 (normal) to 1
    since: float | None  # start of the run of unusual intervals this one belongs to
    points: int  # intervals the detector had learned from before this one
    sample: int  # contacts (or responses) behind a rate; the count itself for volume

    def as_dict(self, zone: tzinfo = UTC) -> dict[str, Any]:
        def local(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).astimezone(zone).isoformat()

        return {
            "figure": self.figure,
            "interval_start": local(self.interval_start),
            "observed": self.observed,
            "expected": self.expected,
            "lower": self.lower,
            "upper": self.upper,
            "score": self.score,
            "since": None if self.since is None else local(self.since),
            "points": self.points,
            "sample": self.sample,
        }


@dataclass(slots=True)
class _Series:
    detector: SeasonalDetector
    since: float | None = None  # start of the current run of unusual intervals
    observed: float = 0.0  # sums over that run, for the count check
    expected: float = 0.0


@dataclass(slots=True)
class _Tenant:
    closed_until: float  # intervals ending at or before this are closed
    open: dict[float, dict[Scope, FigureSums]] = field(default_factory=dict)
    queues: set[Scope] = field(default_factory=set)  # every queue scope ever seen
    latest: dict[Scope, dict[str, Finding]] = field(default_factory=dict)


class AnomalyWatch:
    """Every tenant's detectors; ``add`` events, ``close`` intervals, read ``figures``."""

    def __init__(self, grace_seconds: float = 60.0, min_points: int = 96) -> None:
        self.grace = grace_seconds  # how long after its end an interval still takes events
        self.min_points = min_points  # warm-up of new detectors (intervals)
        self.late = 0  # events for intervals already closed (they reach the store only)
        self.history: deque[Finding] = deque(maxlen=1000)  # the newest findings, for tests
        self._tenants: dict[str, _Tenant] = {}
        self._series: dict[tuple[Scope, str], _Series] = {}

    def add(self, scope: Scope, at: float, sums: FigureSums) -> None:
        """Count one event's figure sums in its quarter hour (``at``: epoch seconds)."""
        start = math.floor(at / INTERVAL) * INTERVAL
        tenant = self._tenants.get(scope[0])
        if tenant is None:  # the first event: its quarter hour is the first one watched
            tenant = self._tenants[scope[0]] = _Tenant(closed_until=start)
        if start < tenant.closed_until:
            self.late += 1
            return
        if scope[2]:
            tenant.queues.add(scope)
        slot = tenant.open.setdefault(start, {})
        total = slot.get(scope)
        if total is None:
            slot[scope] = total = FigureSums()
        total += sums

    def next_close(self, tenant_id: str) -> float:
        """The earliest clock at which :meth:`close` has something to do for this tenant."""
        tenant = self._tenants.get(tenant_id)
        return math.inf if tenant is None else tenant.closed_until + INTERVAL + self.grace

    def close(
        self, tenant_id: str, now: float, settings: AnomalySettings, zone: tzinfo = UTC
    ) -> list[Finding]:
        """Score and learn every interval of the tenant that ended ``grace`` before ``now``."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            return []
        limit = math.floor((now - self.grace) / INTERVAL) * INTERVAL  # closable ends <= limit
        if limit <= tenant.closed_until:
            return []
        if (limit - tenant.closed_until) / INTERVAL > MAX_GAP_INTERVALS:
            tenant.closed_until = limit - MAX_GAP_INTERVALS * INTERVAL  # nobody was watching
            tenant.open = {s: v for s, v in tenant.open.items() if s >= tenant.closed_until}
        found: list[Finding] = []
        offset = _standard_offset(zone)
        start = tenant.closed_until
        while start + INTERVAL <= limit:
            found += self._close_one(tenant, start, settings, offset)
            start += INTERVAL
        tenant.closed_until = start
        self.history.extend(found)
        return found

    def _close_one(
        self, tenant: _Tenant, start: float, settings: AnomalySettings, offset: float
    ) -> list[Finding]:
        sums = tenant.open.pop(start, {})
        totals: dict[Scope, FigureSums] = {}
        for scope in sorted(tenant.queues | set(sums)):
            tenant_id, channel, queue_id = scope
            levels = ((tenant_id, channel, queue_id), (tenant_id, channel, ""), (tenant_id, "", ""))
            for level in dict.fromkeys(levels):
                total = totals.setdefault(level, FigureSums())
                if scope in sums:
                    total += sums[scope]
        tenant.latest = {}
        found = []
        for scope, total in totals.items():
            figures, latest = total.figures(), {}
            figures["offered"] = float(total.offered)
            samples = total.samples()
            for figure in settings.figures:
                value, sample = figures.get(figure), samples[FIGURE_SAMPLES[figure]]
                if value is None or (figure != "offered" and sample < settings.min_sample):
                    continue  # too little to judge: the series skips this interval
                finding = self._score(scope, figure, start, value, sample, offset)
                latest[figure] = finding
                found.append(finding)
            if latest:
                tenant.latest[scope] = latest
        return found

    def _score(
        self, scope: Scope, figure: str, start: float, value: float, sample: int, offset: float
    ) -> Finding:
        series = self._series.get((scope, figure))
        if series is None:
            detector = SeasonalDetector(self.min_points, utc_offset_seconds=offset)
            series = self._series[scope, figure] = _Series(detector)
        detector = series.detector
        points = detector.n
        log = figure in LOG_FIGURES  # times: judged by ratio, 3 s to 9 s as 30 s to 90 s
        fed = math.log1p(value) if log and value > 0.0 else (0.0 if log else value)
        band = detector.expected(start)
        score = detector.update(start, fed)
        expected, lower, upper = (math.expm1(b) if log else b for b in band)
        if figure != "nps":  # the other figures cannot go below 0
            expected, lower = max(expected, 0.0), max(lower, 0.0)
        if score < 0.5:
            series.since, series.observed, series.expected = None, 0.0, 0.0
        else:
            if series.since is None:
                series.since = start
            series.observed += value
            series.expected += expected
            if figure == "offered" and not _beyond_chance(series.observed, series.expected):
                score = 0.5  # unusual, but a few contacts either way: no page on it yet
        return Finding(
            scope, figure, start, value, expected, lower, upper, score, series.since, points,
            sample,
        )  # fmt: skip

    def findings(self, scope: Scope) -> list[Finding]:
        """What the last close found for a scope, most unusual first."""
        tenant = self._tenants.get(scope[0])
        latest = tenant.latest.get(scope, {}) if tenant is not None else {}
        return sorted(latest.values(), key=lambda f: -f.score)

    def tenants(self) -> list[str]:
        return sorted(self._tenants)

    def scopes(self, tenant_id: str) -> list[Scope]:
        tenant = self._tenants.get(tenant_id)
        return sorted(tenant.latest) if tenant is not None else []

    def figures(self, scope: Scope) -> tuple[dict[str, float | None], dict[str, int]]:
        """(figures, samples) for the rule engine: ``anomaly_score`` and ``anomaly_<figure>``,
        with ``anomaly_points`` = intervals learned (the least among the scope's series)."""
        found = self.findings(scope)
        if not found:
            return {}, {}
        figures: dict[str, float | None] = {"anomaly_score": found[0].score}
        figures.update({f"anomaly_{f.figure}": f.score for f in found})
        return figures, {"anomaly_points": min(f.points for f in found)}

    # -- state ------------------------------------------------------------------------------

    def states(self, tenant_id: str) -> list[tuple[Scope, str, dict[str, Any]]]:
        """Every series of a tenant as (scope, figure, JSON-able state), for the store."""
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            return []
        out = []
        for (scope, figure), series in self._series.items():
            if scope[0] == tenant_id:
                state = {
                    "detector": series.detector.to_dict(),
                    "since": series.since,
                    "closed_until": tenant.closed_until,
                }
                out.append((scope, figure, state))
        return out

    def restore(self, scope: Scope, figure: str, state: dict[str, Any]) -> None:
        """Take back one series saved by :meth:`states` (before any ``add`` of its tenant)."""
        detector = SeasonalDetector.from_dict(state["detector"])
        self._series[scope, figure] = _Series(detector, state.get("since"))
        closed = float(state["closed_until"])
        tenant = self._tenants.get(scope[0])
        if tenant is None:
            tenant = self._tenants[scope[0]] = _Tenant(closed_until=closed)
        tenant.closed_until = max(tenant.closed_until, closed)
        if scope[2]:
            tenant.queues.add(scope)

    def __len__(self) -> int:
        return len(self._series)


def _beyond_chance(observed: float, expected: float) -> bool:
    """Counts: is the difference more than three Poisson standard deviations? Arrivals are
    Poisson-like, so 3 calls where 0.2 were expected is chance, 0 where 12 were is not; a run
    of unusual intervals is judged on its totals, so a quiet queue going silent is caught once
    enough calls are missing.

    >>> _beyond_chance(3, 0.2), _beyond_chance(0, 12), _beyond_chance(0, 5), _beyond_chance(0, 10)
    (False, True, False, True)
    """
    return abs(observed - expected) >= 3.0 * math.sqrt(max(expected, 1.0))


def _standard_offset(zone: tzinfo) -> float:
    """The zone's offset in January (seasonal buckets stay put across a DST change)."""
    offset = datetime(2026, 1, 15, 12, tzinfo=UTC).astimezone(zone).utcoffset()
    return (offset or timedelta(0)).total_seconds()
