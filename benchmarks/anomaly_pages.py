"""How often the worker's anomaly detectors would page on normal simulated traffic.

Feeds 21 simulated days (3 tenants of ``streams.simulator.default_config``) through the same
pipeline and :class:`processors.anomaly_watch.AnomalyWatch` as the worker, and counts alarm
episodes (consecutive quarter hours at or above a threshold, per queue series) over the last
7 days, after two weeks of learning. There are no incidents: every episode is a false page.

    python -m benchmarks.anomaly_pages --scale 1     # and --scale 0.3
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from processors.anomaly_watch import INTERVAL, AnomalyWatch, Finding
from processors.lateness import Watermarks
from schemas.tenants import TenantDirectory
from streams.pipeline import Pipeline, as_messages
from streams.settings import Settings
from streams.simulator import default_config, simulate

START = datetime(2026, 1, 5, tzinfo=UTC)
LEARN_DAYS = 14


def findings(days: int, scale: float, seed: int) -> list[Finding]:
    config = default_config(START, timedelta(days=days), seed=seed, tenants=3, scale=scale)
    tenants, settings = TenantDirectory(), Settings(broker="kafka://127.0.0.1:1")
    pipeline = Pipeline(tenants, settings.input_topics, Watermarks(), settings.max_message_bytes)
    watch, found = AnomalyWatch(), []
    messages = as_messages(list(simulate(config)), settings.topic_prefix)
    for first in range(0, len(messages), 2000):
        for row in pipeline.prepare(messages[first : first + 2000]).rows:
            event, at = row.event, row.event.occurred_at.timestamp()
            if row.source.topic == pipeline.clock_topic:
                tenant = tenants.get(event.tenant_id)
                found += watch.close(event.tenant_id, at, tenant.anomaly, tenant.zone)
            if not row.sums.is_empty():
                channel = str(getattr(event, "channel", None) or "")
                queue_id = getattr(event, "queue_id", None) or ""
                watch.add((event.tenant_id, channel, queue_id), at, row.sums)
    return found


def episodes(found: Sequence[Finding], threshold: float) -> Counter[str]:
    """Alarm episodes per "channel/figure" on queue series."""
    out: Counter[str] = Counter()
    last: dict[tuple[Any, str], float] = {}
    for f in found:
        if f.scope[2] and f.score >= threshold:
            key = (f.scope, f.figure)
            if last.get(key) != f.interval_start - INTERVAL:
                out[f"{f.scope[1]}/{f.figure}"] += 1
            last[key] = f.interval_start
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    since = START.timestamp() + LEARN_DAYS * 86400
    scored = [f for f in findings(args.days, args.scale, args.seed) if f.interval_start >= since]
    days = args.days - LEARN_DAYS
    result = {"days_scored": days, "scale": args.scale, "seed": args.seed, "thresholds": {}}
    for threshold in (0.9, 0.95, 0.98, 0.99):
        found = episodes(scored, threshold)
        result["thresholds"][str(threshold)] = {
            "false_pages_per_day": round(sum(found.values()) / days, 2),
            "by_channel_figure": dict(sorted(found.items())),
        }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
