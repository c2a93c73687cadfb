"""How often the default alert rules fire on simulated traffic (no incident injected).

    python -m benchmarks.alert_noise [--hours 10] [--scale 0.5] [--seed 7]

Replays simulated days of the three default tenants through the worker's runtime (pipeline,
chDB store, live boards, rule engine) on event time and counts firing alerts per rule.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.app import replay_in_process
from streams.settings import Settings
from streams.simulator import default_config, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=10)
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    start = datetime(2026, 3, 27, 6, 0, tzinfo=UTC)
    config = default_config(start, timedelta(hours=args.hours), seed=args.seed, scale=args.scale)
    events = list(simulate(config))
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), live_clock="event", broker="kafka://-:1")
        raised = replay_in_process(settings, events, batch=1000)
    firing = [e for e in raised if e.state.value == "firing"]
    queues = {(q.queue_id) for t in config.tenants for q in t.queues}
    report = {
        "hours": args.hours, "scale": args.scale, "seed": args.seed, "events": len(events),
        "queues": len(queues), "firing": len(firing),
        "firing_per_queue_per_10h": round(len(firing) / len(queues) * 10 / args.hours, 2),
        "by_rule": dict(Counter(e.rule for e in firing).most_common()),
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
