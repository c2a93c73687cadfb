"""On event time, skipping the instants at which nothing can change is exact: the alerts of a
replay equal those of evaluating every second, as live processing does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.alerting import LiveAlerts
from streams.app import replay_in_process
from streams.settings import Settings
from streams.simulator import default_config, simulate

pytestmark = pytest.mark.integration


def replay_alerts(tmp: Path, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    settings = Settings(data_dir=tmp, live_clock="event", broker="kafka://unused:1")
    raised = replay_in_process(settings, events)
    return [(e.alert_id, e.state.value, e.at, e.value, e.message) for e in raised]


def test_skipping_idle_instants_changes_no_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 3, 27, 6, 0, tzinfo=UTC)
    events = list(simulate(default_config(start, timedelta(hours=3), seed=11, scale=0.5)))
    skipping = replay_alerts(tmp_path / "skip", events)
    monkeypatch.setattr(LiveAlerts, "_idle", lambda *args: False)
    every_second = replay_alerts(tmp_path / "full", events)
    assert len(every_second) > 20  # the default rules do fire on this traffic
    assert skipping == every_second


def ended(n: int, agent: str, at: datetime, talk: float) -> dict[str, Any]:
    return {
        "event_id": f"e{n}", "event_type": "contact.ended", "tenant_id": "acme",
        "occurred_at": at.isoformat().replace("+00:00", "Z"), "contact_id": f"c{n}",
        "channel": "voice", "queue_id": "billing", "agent_id": agent, "talk_seconds": talk,
    }  # fmt: skip


def test_agent_rule_fires_for_that_agent_and_survives_a_restart(tmp_path: Path) -> None:
    rule = {"name": "slow-agent", "figure": "aht_seconds", "op": "above", "threshold": 600,
            "level": "agent", "min_sample": 3, "for": 0, "business_hours_only": False}  # fmt: skip
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(json.dumps({"tenants": [{"tenant_id": "acme", "rules": [rule]}]}))
    settings = Settings(
        data_dir=tmp_path, live_clock="event", broker="kafka://unused:1", tenants_file=tenants
    )
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    events = [
        ended(n, agent, t0 + timedelta(minutes=n), talk)
        for n, (agent, talk) in enumerate(
            [("a-7", 700), ("a-8", 200), ("a-7", 800), ("a-8", 250), ("a-7", 650), ("a-8", 300)]
        )
    ]

    def run(batch: list[dict[str, Any]], first: int) -> list[Any]:
        return replay_in_process(settings, batch, first_offset=first)

    raised = run(events, 0)
    assert [(e.state.value, e.agent_id) for e in raised] == [("pending", "a-7"), ("firing", "a-7")]
    assert raised[1].message.startswith("Agent a-7: AHT ")
    # a restarted worker restores the open alert: more slow calls do not page again
    more = [ended(10, "a-7", t0 + timedelta(minutes=7), 900)]
    assert run(more, 10) == []
