"""Detection quality of the anomaly detector on labelled incidents in simulated traffic.

``python -m benchmarks.anomaly_eval [--days 21] [--seed 1] [--threshold 0.9] [--runs 5]``

Per run (seed ``seed + i``): one tenant (``acme``) of :func:`streams.simulator.default_config`
is simulated twice for ``days`` days: a clean control run and a run with five labelled incidents
in the last third (after warm-up), on its voice or chat queue, all injected into the events:
surge (arrivals ×3 for 2 h, extra contacts simulated so that the same agents must serve them),
outage (no contact queued for 2 h), AHT drift (talk time +0 → +60 % over 2 days, then kept),
CSAT drop (csat −2, floor 1, for 6 h) and abandon spike (half the contacts answered in 2 h
abandon instead, their end and survey dropped). Events become per-queue 15-minute series
(offered, ASA, AHT, abandon %, CSAT %); one SeasonalDetector per series; an alarm is a point
scoring ≥ threshold, timed at its interval's end (when the value is known). Scoring is
event-wise (NAB-like): see :func:`evaluate`. Prints JSON and writes ``anomaly_eval.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import json
import math
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from processors.anomaly import SeasonalDetector
from streams import simulator
from streams.simulator import SimConfig, SimQueue, SimTenant, default_config, simulate

STEP = 900.0
HOUR = 3600.0
DAY = 86400.0
GRACE = HOUR  # an alarm up to an hour after an incident's end still counts as detecting it
FIGURES = ("offered", "asa", "aht", "abandon_pct", "csat_pct")
TYPES = ("surge", "outage", "aht_drift", "csat_drop", "abandon_spike")
SHORT_ABANDON = {"voice": 5.0}  # METRICS.md default S: voice 5 s, other channels 0
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, no DST change for weeks
Event = dict[str, Any]
Series = dict[str, dict[str, list[float]]]  # queue -> figure -> value per interval (NaN: none)
Found = dict[tuple[str, str], list[float]]  # (queue, figure) -> alarm times
# the figure(s) an incident is meant to move: detection counts only there (``detected``);
# ``detected_any`` accepts any figure of the queue, which random alarms often satisfy
PRIMARY = {"surge": ("offered",), "outage": ("offered",), "aht_drift": ("aht",)}
PRIMARY |= {"csat_drop": ("csat_pct",), "abandon_spike": ("abandon_pct",)}


@dataclass(frozen=True)
class Incident:
    kind: str
    queue: str
    start: float  # epoch seconds
    end: float


def ts(event: Event) -> float:
    return datetime.fromisoformat(event["occurred_at"]).timestamp()


def build_series(events: Iterable[Event], start: float, end: float, step: float = STEP) -> Series:
    """Per-queue figures per ``step`` interval of ``[start, end)`` (METRICS.md definitions).

    offered = answered + abandoned (0 when empty), asa = mean wait of answered, aht = mean
    talk + hold + acw of ended, abandon_pct excludes short abandons, csat_pct = top-2-box share,
    NaN when its interval has fewer than 3 responses. Other figures are NaN when undefined.
    """
    n = math.ceil((end - start) / step)
    acc: dict[str, list[list[float]]] = defaultdict(lambda: [[0.0] * 8 for _ in range(n)])
    for e in events:
        kind, queue = e["event_type"], e.get("queue_id")
        if queue is None or kind not in _COLUMNS:
            continue
        i = int((ts(e) - start) // step)
        if not 0 <= i < n:
            continue
        row = acc[queue][i]
        if kind == "contact.answered":
            row[0] += 1
            row[1] += e["wait_seconds"]
        elif kind == "contact.abandoned":
            row[2] += 1
            row[3] += e["wait_seconds"] <= SHORT_ABANDON.get(e["channel"], 0.0)
        elif kind == "contact.ended":
            row[4] += 1
            row[5] += e["talk_seconds"] + e["hold_seconds"] + e["acw_seconds"]
        elif "csat" in e:
            row[6] += 1
            row[7] += e["csat"] >= 4
    out: Series = {}
    for queue, rows in acc.items():
        nan = math.nan
        out[queue] = {
            "offered": [a + ab for a, _, ab, *_ in rows],
            "asa": [w / a if a else nan for a, w, *_ in rows],
            "aht": [r[5] / r[4] if r[4] else nan for r in rows],
            "abandon_pct": [
                100 * (r[2] - r[3]) / (r[0] + r[2] - r[3]) if r[0] + r[2] - r[3] else nan
                for r in rows
            ],
            "csat_pct": [100 * r[7] / r[6] if r[6] >= 3 else nan for r in rows],
        }
    return out


_COLUMNS = {"contact.answered", "contact.abandoned", "contact.ended", "survey.response"}


def alarms(series: Series, start: float, threshold: float, step: float = STEP) -> Found:
    """(queue, figure) -> alarm times (interval end) of one fresh detector per series."""
    found: Found = {}
    for queue, figures in series.items():
        for figure, values in figures.items():
            detector, hits = SeasonalDetector(), []
            for i, v in enumerate(values):
                if v == v and detector.update(start + i * step, v) >= threshold:
                    hits.append(start + (i + 1) * step)
            found[(queue, figure)] = hits
    return found


def episodes(times: Sequence[float], step: float = STEP) -> list[tuple[float, float]]:
    """Merge sorted alarm times no more than ``step`` apart into (first, last) episodes."""
    out: list[tuple[float, float]] = []
    for t in times:
        if out and t - out[-1][1] <= step + 1e-6:
            out[-1] = (out[-1][0], t)
        else:
            out.append((t, t))
    return out


def evaluate(
    incidents: Sequence[Incident], found: Found, since: float, step: float = STEP
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Event-wise scoring of alarms at or after ``since``.

    An incident is detected when its primary figure's series (``PRIMARY``; any figure for
    ``detected_any``) alarms in [start, end + 1 h]; delay = first such alarm − start. An
    episode (merged consecutive alarms) is true if it overlaps a window of its queue, else a
    false positive. Returns one row per
    incident and per-figure counts: ``episodes/<figure>`` and ``false/<figure>``.
    """
    rows = []
    for inc in incidents:
        hits = [
            (t, fig)
            for (q, fig), times in found.items()
            if q == inc.queue
            for t in times
            if since <= t and inc.start <= t <= inc.end + GRACE
        ]
        own = [t for t, fig in hits if fig in PRIMARY.get(inc.kind, FIGURES)]
        first = min(hits, default=None)
        rows.append(
            {
                **dataclasses.asdict(inc),
                "detected": bool(own),
                "delay_minutes": (min(own) - inc.start) / 60 if own else None,
                "detected_any": first is not None,
                "delay_any_minutes": None if first is None else (first[0] - inc.start) / 60,
                "first_figure": None if first is None else first[1],
                "figures": sorted({fig for _, fig in hits}),
            }
        )
    counts: dict[str, int] = defaultdict(int)
    for (queue, figure), times in found.items():
        windows = [(i.start, i.end + GRACE) for i in incidents if i.queue == queue]
        for first, last in episodes([t for t in times if t >= since], step):
            inside = any(a <= t <= b for a, b in windows for t in (first, last)) or any(
                first <= a <= last for a, _ in windows
            )
            counts[f"episodes/{figure}"] += 1
            counts[f"false/{figure}"] += not inside
    return rows, dict(counts)


@contextmanager
def _extra_arrivals(window: tuple[int, int], factor: float, seed: int) -> Iterator[None]:
    """Make every queue simulated inside get ``factor - 1`` × its usual arrivals in ``window``.

    The simulator has no hook for this; its arrival generator is swapped for the duration.
    """
    original = simulator._arrivals

    def arrivals(rng: random.Random, peak: float, zone: Any, start: int, end: int) -> Any:
        lo, hi = max(start, window[0]), min(end, window[1])
        extra = original(random.Random(seed), peak * (factor - 1), zone, lo, hi)
        return heapq.merge(original(rng, peak, zone, start, end), extra)

    simulator._arrivals = arrivals
    try:
        yield
    finally:
        simulator._arrivals = original


def schedule(config: SimConfig, days: int, rng: random.Random) -> list[Incident]:
    """One incident of each type in the last third, a day apart, business hours, the drift last."""
    tenant = config.tenants[0]
    zone = ZoneInfo(tenant.timezone)
    first_day = math.ceil(2 * days / 3)
    kinds = [*rng.sample([k for k in TYPES if k != "aht_drift"], 4), "aht_drift"]
    length = {"surge": 2, "outage": 2, "csat_drop": 6, "abandon_spike": 2, "aht_drift": 48}
    out = []
    for k, kind in enumerate(kinds):
        day = first_day + k % max(1, days - first_day)
        local = (START + timedelta(days=day)).astimezone(zone).date()
        begin = datetime(local.year, local.month, local.day, rng.randint(9, 12), tzinfo=zone)
        end = min(begin.timestamp() + length[kind] * HOUR, config.start.timestamp() + days * DAY)
        queue = rng.choice(tenant.queues[:2]).queue_id
        out.append(Incident(kind, queue, begin.timestamp(), end))
    return out


def inject(events: list[Event], incidents: Sequence[Incident], seed: int) -> list[Event]:
    """Event-level injection of every incident but the surge (simulated, see ``run``)."""
    rng = random.Random(seed)
    gone: set[str] = set()  # contacts that never reach an agent, or abandon instead
    abandon: set[str] = set()
    for inc in incidents:
        for e in events:
            if e.get("queue_id") != inc.queue or not inc.start <= ts(e) < inc.end:
                continue
            if inc.kind == "outage" and e["event_type"] == "contact.queued":
                gone.add(e["contact_id"])
            elif inc.kind == "abandon_spike" and e["event_type"] == "contact.answered":
                abandon.add(e["contact_id"]) if rng.random() < 0.5 else None
    out = []
    for e in events:
        cid, t, kind = e.get("contact_id"), ts(e), e["event_type"]
        if cid in gone or (cid in abandon and kind in ("contact.ended", "survey.response")):
            continue
        if cid in abandon and kind == "contact.answered":
            e = {**e, "event_type": "contact.abandoned"}
            e.pop("agent_id")
        for inc in incidents:
            if e.get("queue_id") != inc.queue or t < inc.start:
                continue
            if inc.kind == "aht_drift" and kind == "contact.ended":
                grow = 0.6 * min(1.0, (t - inc.start) / (inc.end - inc.start))
                e = {**e, "talk_seconds": e["talk_seconds"] * (1 + grow)}
            elif inc.kind == "csat_drop" and "csat" in e and t < inc.end:
                e = {**e, "csat": max(1, e["csat"] - 2)}
        out.append(e)
    return out


def run(days: int, seed: int, threshold: float, scale: float) -> dict[str, Any]:
    """One seed: control and incident runs, scored from the start of the last third."""
    config = default_config(START, timedelta(days=days), seed, tenants=1, scale=scale)
    tenant = config.tenants[0]
    start, end = START.timestamp(), START.timestamp() + days * DAY
    since = start + math.ceil(2 * days / 3) * DAY
    incidents = schedule(config, days, random.Random(f"incidents:{seed}"))

    def alone(q: SimQueue) -> SimConfig:  # a queue's events do not depend on the other queues
        only = SimTenant(tenant.tenant_id, tenant.timezone, (q,))
        return dataclasses.replace(config, tenants=(only,))

    control = {q.queue_id: list(simulate(alone(q))) for q in tenant.queues}
    treated = dict(control)
    for inc in (i for i in incidents if i.kind == "surge"):
        window = (round(inc.start * 1000), round(inc.end * 1000))
        with _extra_arrivals(window, 3.0, seed):
            queue = next(q for q in tenant.queues if q.queue_id == inc.queue)
            treated[inc.queue] = list(simulate(alone(queue)))
    events = inject([e for q in treated.values() for e in q], incidents, seed)
    clean = [e for q in control.values() for e in q]
    control_found = alarms(build_series(clean, start, end), start, threshold)
    rows, counts = evaluate(
        incidents, alarms(build_series(events, start, end), start, threshold), since
    )
    # the same windows on the clean run: how often they would be "detected" by chance
    chance = evaluate(incidents, control_found, since)[0]
    control_counts = evaluate([], control_found, since)[1]
    for row, c in zip(rows, chance, strict=True):
        row["chance"], row["chance_any"] = c["detected"], c["detected_any"]
    return {
        "incidents": rows,
        "counts": counts,
        "control": control_counts,
        "days": (end - since) / DAY,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per incident type: recall, delays, chance recall; precision; false positives per day."""
    rows = [r for one in runs for r in one["incidents"]]
    days = sum(one["days"] for one in runs)
    per_type = {}
    for kind in TYPES:
        mine = [r for r in rows if r["kind"] == kind]
        delays = [r["delay_minutes"] for r in mine if r["detected"]]
        n = max(1, len(mine))
        per_type[kind] = {
            "incidents": len(mine),
            "recall": len(delays) / n,
            "median_delay_minutes": statistics.median(delays) if delays else None,
            "max_delay_minutes": max(delays) if delays else None,
            "chance_recall": sum(r["chance"] for r in mine) / n,
            "recall_any_figure": sum(r["detected_any"] for r in mine) / n,
            "chance_recall_any_figure": sum(r["chance_any"] for r in mine) / n,
        }

    def total(key: str, what: str, figures: Sequence[str] = FIGURES) -> int:
        return sum(one[key].get(f"{what}/{f}", 0) for one in runs for f in figures)

    episodes_all, false_all = total("counts", "episodes"), total("counts", "false")
    return {
        "scored_days": days,
        "per_type": per_type,
        "precision": {
            "alarm_episodes": episodes_all,
            "true_episodes": episodes_all - false_all,
            "precision": (episodes_all - false_all) / episodes_all if episodes_all else None,
        },
        "false_positives_per_day": {
            f: {
                "control": round(total("control", "false", (f,)) / days, 2),
                "incident_run": round(total("counts", "false", (f,)) / days, 2),
            }
            for f in FIGURES
        },
        "incidents": rows,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=21)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--runs", type=int, default=5, help="runs with seeds seed, seed+1, ...")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--out", default=str(Path(__file__).with_name("anomaly_eval.json")))
    argv = sys.argv[1:] if argv is None else list(argv)
    args = p.parse_args(argv)
    began = time.perf_counter()
    runs = [run(args.days, args.seed + i, args.threshold, args.scale) for i in range(args.runs)]
    summary = {"command": " ".join(["python -m benchmarks.anomaly_eval", *(argv or [])])}
    summary |= {"settings": vars(args), **summarize(runs)}
    summary["seconds"] = round(time.perf_counter() - began, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "incidents"}, indent=1))
    return summary


if __name__ == "__main__":
    main()
