"""On event time, skipping the instants at which nothing can change is exact: the alerts of a
replay equal those of evaluating every second, as live processing does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.alerting import LiveAlerts
from streams.app import Runtime
from streams.pipeline import Message
from streams.settings import Settings
from streams.simulator import default_config, simulate

pytestmark = pytest.mark.integration
TOPIC = {"contact": "contacts", "survey": "surveys", "agent": "agents", "evaluation": "evaluations"}


def replay_alerts(tmp: Path, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    runtime = Runtime(Settings(data_dir=tmp, live_clock="event", broker="kafka://unused:1"))
    runtime.start()
    messages = [
        Message(f"cqm.{TOPIC[e['event_type'].split('.')[0]]}", 0, n, e["tenant_id"].encode(),
                json.dumps(e).encode())
        for n, e in enumerate(events)
    ]  # fmt: skip
    raised = []
    for first in range(0, len(messages), 500):
        raised += runtime.process(messages[first : first + 500])[2]
    runtime.store.close()
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
