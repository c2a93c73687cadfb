"""`cqm worker` stopped (gracefully, then by SIGKILL) and restarted carries on where it left
off: no event lost, none counted twice, figures equal to the independent recomputation."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from schemas.tenants import TenantDirectory, TenantSettings
from streams.broker import free_port
from streams.simulator import default_config, disorder, simulate
from tests.integration.helpers import (
    Worker,
    cqm_env,
    export_figures,
    run_cqm,
    wait_for,
    write_jsonl,
)
from tests.oracle import compare, recompute

pytestmark = pytest.mark.integration


def test_worker_restarts_lose_nothing_and_count_nothing_twice(
    tmp_path: Path,
    isolated: dict[str, str],
    broker_url: str,
    topic_prefix: str,
) -> None:
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    clean = list(simulate(default_config(start, timedelta(hours=6), seed=3, scale=0.2)))
    events = disorder(clean, seed=3, duplicate_share=0.02)
    thirds = [events[: len(events) // 3], events[len(events) // 3 : 2 * len(events) // 3]]
    thirds.append(events[2 * len(events) // 3 :] + events[:50])  # re-sent: duplicates
    files = [write_jsonl(tmp_path / f"part{n}.jsonl", part) for n, part in enumerate(thirds)]
    unique = {(e["tenant_id"], e["event_id"]) for e in events}
    env = cqm_env(
        **isolated,
        web_port=str(free_port()),
        session_timeout_seconds="6",
    )
    with Worker(env, tmp_path / "worker.log") as worker:
        # 1. first third, then a graceful stop
        worker.start()
        run_cqm(["replay", str(files[0])], env)
        stored = worker.wait_valid(len({(e["tenant_id"], e["event_id"]) for e in thirds[0]}))[
            "valid"
        ]
        worker.stop(signal.SIGTERM)

        # 2. second third, then SIGKILL: uncommitted offsets are redelivered to the next worker
        worker.start()
        run_cqm(["replay", str(files[1])], env, timeout=120)
        seen = {(e["tenant_id"], e["event_id"]) for e in thirds[0] + thirds[1]}
        stored += worker.wait_valid(len(seen) - stored)["valid"]
        worker.stop(signal.SIGKILL)

        # 3. last third (with re-sent events) and one event on the wrong topic
        worker.start()
        run_cqm(["replay", str(files[2])], env, timeout=120)
        survey = next(e for e in clean if e["event_type"] == "survey.response")
        producer = KafkaProducer(bootstrap_servers=broker_url.removeprefix("kafka://"))
        producer.send(f"{topic_prefix}contacts", key=b"acme", value=json.dumps(survey).encode())
        producer.close()
        final = worker.wait_valid(len(unique) - stored)
        wait_for(lambda: (s := worker.stats()) and s["dead_letters"] >= 1, 60, "the dead letter")
        worker.stop(signal.SIGTERM)
    assert final["valid"] == len(unique) - stored  # nothing stored twice across restarts

    tenants = TenantDirectory([TenantSettings(tenant_id=t) for t in ("acme", "globex", "initech")])
    expected = recompute(events, tenants)
    for interval in ("15", "day"):
        rows = export_figures(env, interval)
        assert compare(rows, {k: v for k, v in expected.items() if k[0] == interval}) == []

    # the dead letter is on the dead-letter topic, with its reason
    consumer = KafkaConsumer(
        f"{topic_prefix}deadletter",
        bootstrap_servers=broker_url.removeprefix("kafka://"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    letters = []
    for message in consumer:
        letters.append(message)
        break
    consumer.close()
    [letter] = letters
    headers = dict(letter.headers)
    assert letter.value == json.dumps(survey).encode()
    assert headers["cqm-reason"].decode() == (
        "survey.response arrived on the contacts topic; send it to the surveys topic"
    )
