"""Alert latency: from sending the event that makes a rule fire to the alert on ``cqm.alerts``.

A real worker (subprocess, wall clock, embedded broker and chDB) under a steady background load
of simulated-looking contacts; every round sends one abandoned contact that waited 100 s on a
fresh queue, which fires ``max_wait_seconds above 60`` (``for: 0``) for that queue. The
benchmark stamps the send and the arrival of the firing alert on the topic (same machine clock).

    python -m benchmarks.alert_latency [--rounds 200] [--load 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, KafkaProducer

from streams.broker import EmbeddedBroker, free_port

RULE = {
    "name": "max-wait", "figure": "max_wait_seconds", "op": "above", "threshold": 60,
    "min_sample": 1, "for": 0, "clear_for": 600, "level": "queue", "business_hours_only": False,
}  # fmt: skip


def contact(n: int, queue: str, kind: str, wait: float) -> bytes:
    event = {
        "event_id": f"{queue}-{n}", "event_type": f"contact.{kind}", "tenant_id": "lat",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "contact_id": f"c-{queue}-{n}", "channel": "voice", "queue_id": queue,
        "agent_id": "a-1", "wait_seconds": wait,
    }  # fmt: skip
    return json.dumps(event).encode()


def measure(rounds: int, load: float, batch_seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "tenants.yaml").write_text(
        yaml.safe_dump({"tenants": [{"tenant_id": "lat", "rules": [RULE]}]})
    )
    port = free_port()
    with EmbeddedBroker(tmp) as broker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CQM_")}
        env |= {"CQM_BROKER": broker.url, "CQM_DATA_DIR": str(tmp / "data"),
                "CQM_TENANTS_FILE": str(tmp / "tenants.yaml"), "CQM_WEB_PORT": str(port),
                "CQM_BATCH_SECONDS": str(batch_seconds)}  # fmt: skip
        with (tmp / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=log, stderr=log
            )
        try:
            return {"batch_seconds": batch_seconds, **_rounds(broker.address, port, rounds, load)}
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def _rounds(address: str, port: int, rounds: int, load: float) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the worker is up when its web server answers
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
    producer = KafkaProducer(bootstrap_servers=address, linger_ms=0, acks=1)
    consumer = KafkaConsumer(  # answer as soon as the alert is there (default: wait 500 ms)
        "cqm.alerts", bootstrap_servers=address, auto_offset_reset="latest", fetch_max_wait_ms=5
    )
    consumer.poll(timeout_ms=1000)  # join before the first round
    stop = threading.Event()

    def background() -> None:  # steady load on queues that never breach
        n = 0
        while not stop.is_set():
            producer.send("cqm.contacts", key=b"lat", value=contact(n, f"bg{n % 8}", "answered", 3))
            n += 1
            time.sleep(1 / load)

    threading.Thread(target=background, daemon=True).start()
    time.sleep(5)  # warm up: the worker has partitions and a steady flow
    latencies = []
    for r in range(rounds):
        queue = f"q{r}"
        sent = time.time()
        producer.send("cqm.contacts", key=b"lat", value=contact(r, queue, "abandoned", 100))
        producer.flush()
        got = None
        while got is None and time.time() - sent < 10:
            for records in consumer.poll(timeout_ms=20).values():
                for record in records:
                    alert = json.loads(record.value)
                    if alert["queue_id"] == queue and alert["state"] == "firing":
                        got = time.time()
        if got is not None:
            latencies.append(got - sent)
        time.sleep(0.05)
    stop.set()
    producer.close()
    consumer.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "rounds": rounds, "alerts_seen": len(latencies), "background_events_per_second": load,
        "p50_seconds": q[49], "p95_seconds": q[94], "p99_seconds": q[98],
        "max_seconds": latencies[-1],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--load", type=float, default=200, help="background events per second")
    parser.add_argument("--batch-seconds", type=float, default=0.25, help="the worker setting")
    args = parser.parse_args()
    print(json.dumps(measure(args.rounds, args.load, args.batch_seconds), indent=2))


if __name__ == "__main__":
    main()
