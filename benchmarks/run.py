"""Reproducible benchmarks: ``make bench`` (or ``python -m benchmarks.run [--events N]``).

Measures, on this machine, with simulated traffic:
- ``pipeline``: decode + validate + judge + place in intervals (pure Python), events/s;
- ``store``: the ClickHouse sink (dedup check, insert, interval rewrite) on chDB, events/s;
- ``kafka_raw``: a plain aiokafka consumer reading the same messages, messages/s (the ceiling);
- ``end_to_end``: `cqm demo --replay` through the embedded broker, worker and chDB, one event per
  message and in batch envelopes of 100, events/s from the first stored batch to the last;
- ``alert_latency``: send → firing alert on ``cqm.alerts`` at a steady load (alert_latency.py).
Results are printed and written to ``benchmarks/results.json``; BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from schemas.events import TOPIC_OF_TYPE, InputTopic
from schemas.tenants import TenantDirectory
from streams.broker import EmbeddedBroker
from streams.pipeline import Message, Pipeline, as_messages
from streams.simulator import default_config, simulate
from streams.store import Store

HERE = Path(__file__).resolve().parent


def events(n: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    days = 0
    while len(out) < n:  # whole simulated days until there are enough events
        config = default_config(start + timedelta(days=days), timedelta(days=1), seed=days, scale=2)
        out.extend(simulate(config))
        days += 1
    return out[:n]


def messages(evs: list[dict[str, Any]]) -> list[Message]:
    return as_messages(evs)


def bench_pipeline(msgs: list[Message]) -> dict[str, float]:
    pipeline = Pipeline(TenantDirectory(), {f"cqm.{k}": k for k in InputTopic})
    began = time.perf_counter()
    for i in range(0, len(msgs), 2000):
        pipeline.prepare(msgs[i : i + 2000])
    seconds = time.perf_counter() - began
    return {"events": len(msgs), "seconds": seconds, "events_per_second": len(msgs) / seconds}


def bench_store(msgs: list[Message]) -> dict[str, float]:
    pipeline = Pipeline(TenantDirectory(), {f"cqm.{k}": k for k in InputTopic})
    batches = [pipeline.prepare(msgs[i : i + 2000]) for i in range(0, len(msgs), 2000)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"chdb://{tmp}/ch", "bench").open()
        store.migrate()
        began = time.perf_counter()
        for batch in batches:
            store.write(batch)
        seconds = time.perf_counter() - began
        store.close()
    return {"events": len(msgs), "seconds": seconds, "events_per_second": len(msgs) / seconds}


def bench_kafka_raw(broker: str, topic: str, expected: int) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer

    async def consume() -> dict[str, float]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        count, began = 0, None
        try:
            while count < expected:  # count messages: Tansu's end offsets under-count
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                if began is None and batch:
                    began = time.perf_counter()
                count += sum(len(v) for v in batch.values())
        finally:
            await consumer.stop()
        seconds = time.perf_counter() - (began or time.perf_counter())
        return {"messages": count, "seconds": seconds, "messages_per_second": count / seconds}

    return asyncio.run(consume())


def bench_end_to_end(
    evs: list[dict[str, Any]], envelope: int, broker: str, tmp: Path, clock: str = "wall"
) -> dict[str, Any]:
    """A back-fill by default (wall clock: history never enters the live view); with
    clock="event", a replay that also evaluates alerts at every second of event time."""
    path = tmp / f"replay-{envelope}-{clock}.jsonl"
    with path.open("w") as out:
        for i in range(0, len(evs), envelope):
            chunk = evs[i : i + envelope]
            # an envelope holds one tenant's events of one topic: messages are keyed by tenant
            by_topic: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for e in chunk:
                kind = TOPIC_OF_TYPE[e["event_type"]].value
                by_topic.setdefault((kind, e["tenant_id"]), []).append(e)
            for group in by_topic.values():
                out.write(json.dumps(group if envelope > 1 else group[0]) + "\n")
    prefix = f"b{envelope}{clock}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQM_")}
    env |= {
        "CQM_BROKER": broker,
        "CQM_TOPIC_PREFIX": prefix,
        "CQM_APP_ID": f"bench{envelope}{clock}",
        "CQM_DATA_DIR": str(tmp / f"data{envelope}{clock}"),
        "CQM_LIVE_CLOCK": clock,
    }
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--replay", str(path)],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"cqm demo failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    wall = time.perf_counter() - began
    match = re.search(r"Processed in ([\d.]+) s", done.stdout)
    assert match, f"no throughput line in the demo's output:\n{done.stdout[-2000:]}"
    busy = float(match.group(1)) if match else float("nan")
    result: dict[str, Any] = {
        "events": len(evs), "envelope": envelope, "clock": clock, "processing_seconds": busy,
        "events_per_second": len(evs) / busy, "command_wall_seconds": wall,
    }  # fmt: skip
    if envelope == 1 and clock == "wall":
        contacts = sum(1 for e in evs if e["event_type"].startswith("contact."))
        result["kafka_raw"] = bench_kafka_raw(
            broker.removeprefix("kafka://"), f"{prefix}contacts", contacts
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    args = parser.parse_args()
    evs = events(args.events)
    msgs = messages(evs)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "command": f"python -m benchmarks.run --events {args.events}",
        "pipeline": bench_pipeline(msgs),
        "store": bench_store(msgs),
    }
    print(json.dumps(results, indent=2), flush=True)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(Path(tmp)) as broker:
        results["end_to_end"] = [
            bench_end_to_end(evs, 1, broker.url, Path(tmp)),
            bench_end_to_end(evs, 100, broker.url, Path(tmp)),
            bench_end_to_end(evs[: len(evs) // 4], 100, broker.url, Path(tmp), clock="event"),
        ]
    print(json.dumps(results["end_to_end"], indent=2))
    from benchmarks.alert_latency import measure

    results["alert_latency"] = measure(rounds=200, load=200, batch_seconds=0.25)
    print(json.dumps(results["alert_latency"], indent=2))
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
