"""Supervisor alerting through the real broker and worker: a simulated queue collapse (agents
leave) raises one service-level alert and recovery resolves it, delivered to a real HTTP
receiver; a rule change through the config topic takes effect without a restart."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer

from streams.broker import free_port
from streams.simulator import SimConfig, SimQueue, SimTenant, simulate
from streams.store import Store
from tests.integration.helpers import Worker, cqm_env, run_cqm, wait_for, write_jsonl
from tests.integration.receiver import Receiver

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def period(start: datetime, minutes: int, agents: int, seed: int) -> list[dict[str, Any]]:
    queue = SimQueue("billing", "voice", agents, 240.0, 180.0, 90.0)
    config = SimConfig(
        (SimTenant("acme", "UTC", (queue,)),), start, timedelta(minutes=minutes), seed
    )
    return list(simulate(config))


def collapse_and_recovery() -> list[dict[str, Any]]:
    """A staffed hour, then all but two agents leave for 40 minutes, then they come back."""
    normal = period(START, 60, 40, seed=1)
    leave_at = START + timedelta(minutes=60)
    when = leave_at.isoformat().replace("+00:00", "Z")
    left = [
        {"event_id": f"leave-{n}", "event_type": "agent.state", "tenant_id": "acme",
         "occurred_at": when, "agent_id": f"billing-a{n:02d}", "state": "offline",
         "queue_ids": ["billing"]}
        for n in range(3, 41)
    ]  # fmt: skip
    short = period(leave_at, 40, 2, seed=2)
    recovered = period(leave_at + timedelta(minutes=40), 60, 40, seed=3)
    return normal + left + short + recovered


def rules(threshold: float, name: str) -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "rules": [
            {"name": name, "figure": "service_level_pct", "op": "below", "threshold": threshold,
             "clear_threshold": threshold + 5, "min_sample": 10, "for": "1m", "clear_for": "2m",
             "severity": "critical", "level": "queue", "queue_id": "billing",
             "business_hours_only": False}
        ],
    }  # fmt: skip


def test_queue_collapse_alerts_once_and_recovery_resolves(
    tmp_path: Path,
    isolated: dict[str, str],
    broker_url: str,
    clickhouse_url: str,
    database: str,
    topic_prefix: str,
) -> None:
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(Receiver())
        tenant = rules(80, "billing-sl") | {
            "webhooks": [
                {"url": f"{receiver.url}/services/T0/B0/SECRET", "format": "slack"},
                {"url": f"{receiver.url}/generic", "format": "generic"},
            ]
        }
        tenants_file = tmp_path / "tenants.yaml"
        tenants_file.write_text(yaml.safe_dump({"tenants": [tenant]}))
        env = cqm_env(
            **isolated,
            web_port=str(free_port()),
            tenants_file=str(tenants_file),
            live_clock="event",
            session_timeout_seconds="6",
        )
        events = collapse_and_recovery()
        worker = stack.enter_context(Worker(env, tmp_path / "worker.log")).start()
        run_cqm(["replay", str(write_jsonl(tmp_path / "day.jsonl", events))], env)
        worker.wait_valid(len(events))

        # the live view: the trailing 15 minutes of event time, counted here independently
        live = worker.get("/live/acme")
        billing = next(s for s in live["scopes"] if s["queue_id"] == "billing")
        contacts = [e for e in events if e["event_type"].startswith("contact.")]
        now = max(datetime.fromisoformat(e["occurred_at"]) for e in contacts)
        assert datetime.fromisoformat(live["as_of"]) == now

        def offered_since(seconds: float) -> int:
            since = now - timedelta(seconds=seconds)
            return sum(
                1 for e in contacts
                if e["event_type"] in ("contact.answered", "contact.abandoned")
                and datetime.fromisoformat(e["occurred_at"]) > since
            )  # fmt: skip

        # one-second slots: the window's edge is exact to within a second
        assert offered_since(899) <= billing["offered"] <= offered_since(901)
        assert billing["offered"] > 20 and billing["service_level_pct"] is not None

        wait_for(lambda: len(receiver.bodies()) >= 4, 30, "firing and resolved on both webhooks")
        generic = receiver.bodies("/generic")
        assert [b["alert"]["state"] for b in generic] == ["firing", "resolved"]
        firing, resolved = (b["alert"] for b in generic)
        assert firing["rule"] == "billing-sl" and firing["queue_id"] == "billing"
        assert firing["alert_id"] == resolved["alert_id"]
        assert firing["value"] < 80 and resolved["value"] >= 85
        collapse = START + timedelta(minutes=60)
        at = datetime.fromisoformat(firing["at"])
        assert collapse < at < collapse + timedelta(minutes=40)  # during the collapse, not after
        assert datetime.fromisoformat(resolved["at"]) > collapse + timedelta(minutes=40)
        assert firing["message"].startswith("Billing voice: service level")
        assert re.search(r"· \d+ waiting · .*· \d+ of \d+ agents available$", firing["message"])
        slack = receiver.bodies("/services/T0/B0/SECRET")  # the secret path only in the URL used
        assert [b["text"] for b in slack] == [
            f"🔴 CRITICAL: {firing['message']}",
            f"✅ RESOLVED: {resolved['message']}",
        ]
        assert slack[0]["blocks"]

        # every transition is on the alerts topic, keyed by the stable alert key
        consumer = KafkaConsumer(
            f"{topic_prefix}alerts",
            bootstrap_servers=broker_url.removeprefix("kafka://"),
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        on_topic = [json.loads(m.value) for m in consumer if m.key == firing["alert_key"].encode()]
        consumer.close()
        assert [e["state"] for e in on_topic if e["alert_id"] == firing["alert_id"]] == [
            "pending", "firing", "resolved",
        ]  # fmt: skip

        # a bad update is rejected (old rules stay); a good one applies without a restart
        bad_rule = {"tenant_id": "acme", "rules": [{"name": "x", "figure": "sl"}]}
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"tenants": [bad_rule]}))
        with pytest.raises(AssertionError, match=r"tenant acme \(tenants\[0\]\): rule 'x'"):
            run_cqm(["config", "publish", str(bad)], env)  # refused before it is sent
        producer = KafkaProducer(bootstrap_servers=broker_url.removeprefix("kafka://"))
        producer.send(f"{topic_prefix}config", key=b"acme", value=json.dumps(bad_rule).encode())
        producer.close()  # sent behind the CLI's back: the worker must refuse it itself
        wait_for(lambda: (s := worker.stats()) and s["config_rejected"] == 1, 30, "rejection")
        in_force = worker.get("/config/acme")
        assert [r["name"] for r in in_force["rules_in_force"]] == ["billing-sl", "unusual-figures"]
        assert "SECRET" not in json.dumps(in_force)  # webhook URLs are redacted
        good = tmp_path / "strict.yaml"
        good.write_text(yaml.safe_dump({"tenants": [rules(99.5, "billing-sl-strict")]}))
        run_cqm(["config", "publish", str(good)], env)
        wait_for(lambda: (s := worker.stats()) and s["config_accepted"] == 1, 30, "config applied")
        in_force = worker.get("/config/acme")
        assert in_force["rules_in_force"][0]["name"] == "billing-sl-strict"
        later = period(START + timedelta(hours=3), 30, 40, seed=4)
        run_cqm(["replay", str(write_jsonl(tmp_path / "later.jsonl", later))], env)
        worker.wait_valid(len(events) + len(later))
        active = wait_for(
            lambda: [
                a for a in (worker.get("/alerts/acme") or {}).get("active", [])
                if a["rule"] == "billing-sl-strict" and a["state"] == "firing"
            ],
            30,
            "the stricter rule to fire",
        )  # fmt: skip
        assert active[0]["threshold"] == 99.5
        worker.stop()

    # every webhook outcome is recorded, and no secret of a webhook URL is stored
    store = Store(clickhouse_url, database).open()
    try:
        deliveries = store.client.query(
            "SELECT endpoint, format, status, attempts, state FROM alert_deliveries ORDER BY at"
        ).result_rows
    finally:
        store.close()
    delivered = [(fmt, status, state) for _, fmt, status, _, state in deliveries]
    assert delivered.count(("slack", "delivered", "firing")) >= 1
    assert delivered.count(("generic", "delivered", "resolved")) >= 1
    assert not any("SECRET" in endpoint for endpoint, *_ in deliveries)

    listed = run_cqm(["alerts", "list", "--tenant", "acme", "--format", "jsonl"], env).stdout
    incidents = {json.loads(line)["alert_id"]: json.loads(line) for line in listed.splitlines()}
    assert incidents[firing["alert_id"]]["state"] == "resolved"
    assert any(i["rule"] == "billing-sl-strict" for i in incidents.values())
