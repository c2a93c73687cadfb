"""Anomaly alerts through the real broker and worker: detectors that learned two weeks of a
tenant's traffic (state saved in ClickHouse, as a running worker saves it) catch a surge on one
queue the next day, explain it, and stay quiet for a tenant whose day is normal."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.alerts import AlertState
from streams.app import Runtime
from streams.broker import free_port
from streams.pipeline import as_messages
from streams.settings import Settings
from streams.simulator import SimConfig, Surge, default_config, simulate
from streams.store import Store
from tests.integration.helpers import Worker, cqm_env, run_cqm, write_jsonl

pytestmark = pytest.mark.integration

HISTORY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; two weeks of history
DAY = HISTORY + timedelta(days=14)
# 10:00-12:00 in Paris: three times the usual calls on acme's billing queue
SURGE = Surge(DAY + timedelta(hours=9), DAY + timedelta(hours=11), factor=3.0)


def traffic(start: datetime, days: int, surge: bool = False) -> list[dict[str, Any]]:
    config = default_config(start, timedelta(days=days), seed=7, tenants=2, scale=1.0)
    if surge:
        acme, globex = config.tenants
        billing = dataclasses.replace(acme.queues[0], surges=(SURGE,))
        acme = dataclasses.replace(acme, queues=(billing, *acme.queues[1:]))
        config = dataclasses.replace(config, tenants=(acme, globex))
    assert isinstance(config, SimConfig)
    return list(simulate(config))


def learn(settings: Settings, events: list[dict[str, Any]]) -> int:
    """What a worker running through the history would have learned, without the broker:
    the same runtime, fed in batches, its detector states saved in ClickHouse."""
    runtime = Runtime(settings)
    runtime.start()
    try:
        messages = as_messages(events, settings.topic_prefix)
        for first in range(0, len(messages), 2000):
            runtime.record_live(runtime.pipeline.prepare(messages[first : first + 2000]))
        runtime.store_anomalies()
        return len(runtime.anomalies)
    finally:
        runtime.store.close()


def test_a_surge_raises_one_explained_anomaly_alert_and_a_normal_day_none(
    tmp_path: Path, isolated: dict[str, str], clickhouse_url: str, database: str
) -> None:
    series = learn(Settings(**isolated), traffic(HISTORY, 14))  # type: ignore[arg-type]
    assert series >= 2 * 7  # offered, at least, for 3 queues, 3 channels and each tenant

    env = cqm_env(**isolated, web_port=str(free_port()), live_clock="event")
    day = traffic(DAY, 1, surge=True)
    with Worker(env, tmp_path / "worker.log") as worker:
        worker.start()
        run_cqm(["replay", str(write_jsonl(tmp_path / "day.jsonl", day))], env)
        worker.wait_valid(len(day), timeout=240)
        worker.stop()

    store = Store(clickhouse_url, database).open()
    try:
        alerts = [a for a in store.alerts(limit=10_000) if a.rule == "unusual-figures"]
        scores = store.anomaly_scores("acme")
    finally:
        store.close()

    # the detectors went on from the stored state: no warm-up, two weeks of points behind them
    today = [s for s in scores if s["interval_start"] >= DAY and s["figure"] == "offered"]
    assert min(s["points"] for s in today) >= 13 * 96  # (a queue counts from its first call)

    firing = [a for a in alerts if a.was_firing]
    assert {(a.tenant_id, a.queue_id) for a in firing} == {("acme", "billing")}, [
        a.message for a in firing
    ]
    (alert,) = [a for a in firing if a.started_at < SURGE.end]
    assert SURGE.start < alert.started_at <= SURGE.start + timedelta(minutes=60)
    assert alert.state is AlertState.resolved  # the surge ended, and so did the alert
    # explained while it fired: the figures, what was expected, the band, since when
    (fired,) = [a for a in listed_states(env, alert.alert_id) if a["state"] == "firing"]
    offered = next(f for f in fired["context"]["anomalies"] if f["figure"] == "offered")
    assert offered["observed"] > offered["upper"] > offered["expected"] > 0
    assert (
        fired["message"].startswith("Billing voice: unusual: ") and " offered" in fired["message"]
    )
    assert (
        alert.message.startswith("Resolved: Billing voice ") and "back to normal" in alert.message
    )
    billing = [s for s in scores if s["queue_id"] == "billing" and s["figure"] == "offered"]
    surge = [s for s in billing if SURGE.start <= s["interval_start"] < SURGE.end]
    assert max(s["score"] for s in surge) >= 0.98
    assert max(s["score"] for s in billing if s["interval_start"] < SURGE.start) < 0.98


def listed_states(env: dict[str, str], alert_id: str) -> list[dict[str, Any]]:
    """Every stored transition of one alert (the worker must be stopped: chDB is single-process)."""
    store = Store(env["CQM_CLICKHOUSE_URL"], env["CQM_CLICKHOUSE_DATABASE"]).open()
    try:
        rows = store.client.query(
            "SELECT state, message, context FROM alerts FINAL WHERE alert_id = %(id)s",
            parameters={"id": alert_id},
        ).named_results()
        return [{**r, "context": json.loads(r["context"])} for r in rows]
    finally:
        store.close()
