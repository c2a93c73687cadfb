"""Independent recomputation of the stored interval figures from raw events (test reference).

Follows shared/METRICS.md line by line and deliberately shares no code with ``processors/`` or
``streams/``: only the settings resolution (``schemas.tenants``) is reused. Each event's
contribution is judged once by its own queue's settings and added to its (interval, queue) rows;
channel and tenant rows add those sums. Correctness over speed.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from schemas.events import Channel
from schemas.tenants import ResolvedSettings, SlFormula, TenantDirectory

Key = tuple[str, str, str, str, str, str]
INTERVALS = ("15", "30", "60", "day")
SERVQUAL_DIMENSIONS = ("reliability", "responsiveness", "assurance", "empathy", "tangibles")
COUNT_COLUMNS = (
    "offered", "answered", "abandoned", "short_abandoned", "answered_in_sl", "abandoned_in_sl",
    "ended", "csat_responses", "nps_responses", "ces_responses", "servqual_responses",
)  # fmt: skip
RATIO_COLUMNS = (
    "service_level_pct", "abandon_rate_pct", "asa_seconds", "max_wait_seconds", "aht_seconds",
    "fcr_pct", "csat_pct", "csat_avg", "nps", "ces_avg",
    *(f"servqual_gap_{d}" for d in SERVQUAL_DIMENSIONS),
)  # fmt: skip
KEY_COLUMNS = ("interval", "scope", "tenant_id", "channel", "queue_id", "interval_start")
CONTRIBUTING = {"contact.answered", "contact.abandoned", "contact.ended", "survey.response"}


def parse_time(text: str) -> datetime:
    """RFC 3339 → aware UTC datetime (digits beyond microseconds are truncated, i.e. floored)."""
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- intervals (METRICS "Intervals")
def _to_utc_if_exists(wall: datetime, zone: ZoneInfo, fold: int) -> datetime | None:
    """The instant showing local ``wall`` with ``fold``, or None if that wall time is skipped."""
    moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    return moment if moment.astimezone(zone).replace(tzinfo=None) == wall else None


def _first_instant_from(wall: datetime, zone: ZoneInfo) -> datetime:
    """The earliest instant whose local wall time is ``wall`` or, if skipped, the next minute."""
    while True:
        found = [m for f in (0, 1) if (m := _to_utc_if_exists(wall, zone, f)) is not None]
        if found:
            return min(found)
        wall += timedelta(minutes=1)


def interval_start(moment: datetime, zone: ZoneInfo, interval: str) -> datetime:
    """Start (UTC) of the local-clock interval containing ``moment``."""
    local = moment.astimezone(zone)
    if interval == "day":
        # The day starts at local midnight; the first one if it repeats, the first instant of
        # the date if it is skipped.
        midnight = datetime(local.year, local.month, local.day)
        return _first_instant_from(midnight, zone)
    minutes = int(interval)
    since_midnight = local.hour * 60 + local.minute
    floored = since_midnight - since_midnight % minutes
    wall = datetime(local.year, local.month, local.day, floored // 60, floored % 60)
    # A repeated (fall-back) wall time starts two intervals: take the latest one not after the
    # event. A skipped (spring-forward) wall time starts its interval at the next existing minute.
    starts = [m for f in (0, 1) if (m := _to_utc_if_exists(wall, zone, f)) is not None]
    starts = [m for m in starts if m <= moment]
    return max(starts) if starts else _first_instant_from(wall, zone)


def _starts_in_hour(hour: datetime, zone: ZoneInfo, interval: str) -> list[datetime]:
    """Sorted starts of the intervals meeting [hour, hour + 1 h), by ``interval_start`` itself.
    Zone offsets are whole minutes, so every interval starts on a whole UTC minute."""
    starts = [interval_start(hour, zone, interval)]
    local = hour.astimezone(zone)
    steady = local.utcoffset() == (hour + timedelta(minutes=59)).astimezone(zone).utcoffset()
    step = 1440 if interval == "day" else int(interval)
    for k in range(1, 60):
        if steady and (local.hour * 60 + local.minute + k) % step:
            continue  # no clock change this hour and not a multiple of the interval
        candidate = hour + timedelta(minutes=k)
        if interval_start(candidate, zone, interval) == candidate:
            starts.append(candidate)
    return starts


class _IntervalCache:
    """Interval starts per (zone, UTC hour), so that 100k events take a few seconds."""

    def __init__(self) -> None:
        self._hours: dict[tuple[str, datetime], list[tuple[str, list[datetime], list[str]]]] = {}

    def starts(self, moment: datetime, zone: ZoneInfo) -> list[tuple[str, str]]:
        """(interval, ISO start) of each interval containing ``moment``."""
        hour = moment.replace(minute=0, second=0, microsecond=0)
        table = self._hours.get((zone.key, hour))
        if table is None:
            table = []
            for interval in INTERVALS:
                starts = _starts_in_hour(hour, zone, interval)
                table.append((interval, starts, [iso(s) for s in starts]))
            self._hours[(zone.key, hour)] = table
        return [(iv, labels[bisect_right(starts, moment) - 1]) for iv, starts, labels in table]


# ---------------------------------------------------------------- accumulation (METRICS tables)
def _sl_contribution(
    formula: SlFormula, answered: bool, in_t: bool, short: bool
) -> tuple[int, int]:
    """(numerator, denominator) one answered/abandoned contact adds under its queue's formula."""
    if answered:  # every formula: numerator A≤T, denominator includes A
        return int(in_t), 1
    if formula is SlFormula.answered_only:  # 100·A≤T / A
        return 0, 0
    if formula is SlFormula.all_offered:  # 100·A≤T / (A + Ab)
        return 0, 1
    if formula is SlFormula.exclude_short_abandons:  # 100·A≤T / (A + Ab − ShortAb)
        return 0, 0 if short else 1
    if formula is SlFormula.abandons_in_threshold_met:  # 100·(A≤T + Ab≤T) / (A + Ab)
        return int(in_t), 1
    if formula is SlFormula.exclude_abandons_in_threshold:  # 100·A≤T / (A + Ab − Ab≤T)
        return 0, 0 if in_t else 1
    raise ValueError(f"unknown sl_formula {formula!r}")


def _contribution(event: dict[str, Any], settings: ResolvedSettings | None) -> dict[str, float]:
    """What one event adds to every row it belongs to, judged by its own queue's settings."""
    kind = event["event_type"]
    parts: dict[str, float] = {}
    if kind in ("contact.answered", "contact.abandoned"):
        assert settings is not None
        wait = float(event["wait_seconds"])
        in_t = wait <= settings.sl_threshold_seconds  # A≤T or Ab≤T
        short = wait <= settings.short_abandon_seconds  # ShortAb
        answered = kind == "contact.answered"
        if answered:
            parts |= {"answered": 1, "answered_in_sl": in_t, "answered_wait": wait}
        else:
            parts |= {"abandoned": 1, "abandoned_in_sl": in_t, "short_abandoned": short}
        num, den = _sl_contribution(settings.sl_formula, answered, in_t, short)
        parts |= {"sl_numerator": num, "sl_denominator": den, "max_wait": wait}
    elif kind == "contact.ended":
        hold, acw = event.get("hold_seconds") or 0, event.get("acw_seconds") or 0
        parts |= {"ended": 1, "handle": float(event["talk_seconds"]) + hold + acw}
        if event.get("resolved") is not None:
            parts |= {"resolved_present": 1, "resolved_true": event["resolved"] is True}
    elif kind == "survey.response":
        if event.get("csat") is not None:
            csat = event["csat"]
            parts |= {"csat_responses": 1, "csat_sum": csat, "csat_top2": csat >= 4}
        if event.get("nps") is not None:
            nps = event["nps"]
            parts |= {"nps_responses": 1, "promoters": nps >= 9, "detractors": nps <= 6}
        if event.get("ces") is not None:
            parts |= {"ces_responses": 1, "ces_sum": event["ces"]}
        servqual = event.get("servqual") or {}
        present = [d for d in SERVQUAL_DIMENSIONS if servqual.get(d) is not None]
        if present:
            parts["servqual_responses"] = 1
        for dim in present:
            parts[f"gap_n_{dim}"] = 1
            parts[f"gap_sum_{dim}"] = servqual[dim]["perceived"] - servqual[dim]["expected"]
    return {name: float(value) for name, value in parts.items()}


def _book(totals: dict[str, float], parts: dict[str, float]) -> None:
    """A row adds the counts and sums of its parts; max_wait is a maximum."""
    for name, value in parts.items():
        if name == "max_wait":
            totals[name] = max(totals.get(name, value), value)
        else:
            totals[name] = totals.get(name, 0.0) + value


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float | None:
    return None if denominator == 0 else scale * numerator / denominator


def _row(key: Key, totals: dict[str, float]) -> dict[str, Any]:
    t = defaultdict(float, totals)
    a, ab, short = t["answered"], t["abandoned"], t["short_abandoned"]
    row: dict[str, Any] = dict(zip(KEY_COLUMNS, key, strict=True))
    row["offered"] = int(a + ab)  # A + Ab
    row |= {name: int(t[name]) for name in COUNT_COLUMNS if name != "offered"}
    nps_n = t["nps_responses"]
    row |= {
        "service_level_pct": _ratio(t["sl_numerator"], t["sl_denominator"], 100),
        # 100·(Ab − ShortAb) / (A + Ab − ShortAb)
        "abandon_rate_pct": _ratio(ab - short, a + ab - short, 100),
        "asa_seconds": _ratio(t["answered_wait"], a),  # Σ wait over answered / A
        "max_wait_seconds": totals.get("max_wait"),  # over answered and abandoned
        "aht_seconds": _ratio(t["handle"], t["ended"]),  # Σ (talk + hold + acw) / E
        "fcr_pct": _ratio(t["resolved_true"], t["resolved_present"], 100),
        "csat_pct": _ratio(t["csat_top2"], t["csat_responses"], 100),  # top-2-box
        "csat_avg": _ratio(t["csat_sum"], t["csat_responses"]),
        # 100·(nps ≥ 9)/n − 100·(nps ≤ 6)/n
        "nps": 100 * t["promoters"] / nps_n - 100 * t["detractors"] / nps_n if nps_n else None,
        "ces_avg": _ratio(t["ces_sum"], t["ces_responses"]),
    }
    for dim in SERVQUAL_DIMENSIONS:  # mean (perceived − expected)
        row[f"servqual_gap_{dim}"] = _ratio(t[f"gap_sum_{dim}"], t[f"gap_n_{dim}"])
    return row


def recompute(
    events: Iterable[dict[str, Any]], tenants: TenantDirectory
) -> dict[Key, dict[str, Any]]:
    """Every (interval, scope, tenant, channel, queue, start) row the events contribute to."""
    seen: set[tuple[str, str]] = set()
    queues: dict[tuple[str, str, str, str, str], dict[str, float]] = {}
    cache = _IntervalCache()
    settings: dict[tuple[str, str, str], ResolvedSettings] = {}
    for event in events:
        identity = (event["tenant_id"], event["event_id"])
        if identity in seen:  # duplicates count once: keep the first seen
            continue
        seen.add(identity)
        if event["event_type"] not in CONTRIBUTING:
            continue
        tenant = event["tenant_id"]
        channel = event.get("channel") or ""
        queue = event.get("queue_id") or ""
        resolved = None
        if event["event_type"] in ("contact.answered", "contact.abandoned"):
            if (tenant, channel, queue) not in settings:
                found = tenants.get(tenant).resolve(Channel(channel), queue)
                settings[(tenant, channel, queue)] = found
            resolved = settings[(tenant, channel, queue)]
        parts = _contribution(event, resolved)
        zone = ZoneInfo(tenants.get(tenant).timezone)
        moment = parse_time(event["occurred_at"])  # booked at the completing event's time
        for interval, start in cache.starts(moment, zone):
            _book(queues.setdefault((interval, tenant, channel, queue, start), {}), parts)
    # Roll-ups add the counts and sums of their parts (each contact already judged by its own
    # queue's settings) and compute ratios from those sums in _row.
    totals: dict[Key, dict[str, float]] = {}
    for (interval, tenant, channel, queue, start), sums in queues.items():
        for scope, ch, q in (
            ("queue", channel, queue),
            ("channel", channel, ""),
            ("tenant", "", ""),
        ):
            _book(totals.setdefault((interval, scope, tenant, ch, q, start), {}), sums)
    return {key: _row(key, t) for key, t in totals.items()}


# ---------------------------------------------------------------- comparison
def _normalise_start(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    return iso(parse_time(str(value)))


def _actual_key(row: dict[str, Any]) -> Key:
    return (
        str(row["interval"]),
        str(row["scope"]),
        str(row["tenant_id"]),
        str(row.get("channel") or ""),
        str(row.get("queue_id") or ""),
        _normalise_start(row["interval_start"]),
    )


def compare(
    actual_rows: Iterable[dict[str, Any]],
    expected: dict[Key, dict[str, Any]],
    rel_tol: float = 1e-9,
) -> list[str]:
    """Human-readable differences between stored rows and ``recompute``; empty = identical."""
    problems: list[str] = []
    actual: dict[Key, dict[str, Any]] = {}
    for row in actual_rows:
        key = _actual_key(row)
        if key in actual:
            problems.append(f"duplicate actual row {key}")
        actual[key] = row
    for key in sorted(expected.keys() - actual.keys()):
        problems.append(f"missing row {key}")
    for key in sorted(actual.keys() - expected.keys()):
        problems.append(f"unexpected row {key}")
    for key in sorted(expected.keys() & actual.keys()):
        want, got = expected[key], actual[key]
        for column in COUNT_COLUMNS + RATIO_COLUMNS:
            if column not in got:
                problems.append(f"{key}: column {column} absent")
                continue
            w, g = want[column], got[column]
            if w is None or g is None:
                if (w is None) != (g is None):
                    problems.append(f"{key}: {column} expected {w!r}, got {g!r}")
            elif column in COUNT_COLUMNS:
                if float(g) != w:
                    problems.append(f"{key}: {column} expected {w}, got {g}")
            elif not math.isclose(float(g), w, rel_tol=rel_tol, abs_tol=1e-9):
                problems.append(f"{key}: {column} expected {w!r}, got {g!r} (Δ={float(g) - w:.3g})")
    return problems
