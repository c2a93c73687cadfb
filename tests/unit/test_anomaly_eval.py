"""The detector evaluation harness: series building, incident matching, and a tiny full run."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.anomaly_eval import (
    FIGURES,
    START,
    TYPES,
    Incident,
    build_series,
    episodes,
    evaluate,
    main,
    summarize,
)

T0 = START.timestamp()


def at(minutes: float) -> str:
    return f"{START + timedelta(minutes=minutes):%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z"


def ev(kind: str, minutes: float, queue: str = "billing", **fields: Any) -> dict[str, Any]:
    channel = "voice" if queue == "billing" else "chat"
    return {
        "event_type": kind,
        "occurred_at": at(minutes),
        "queue_id": queue,
        "channel": channel,
        **fields,
    }


def ended(minutes: float, talk: float, hold: float, acw: float) -> dict[str, Any]:
    return ev("contact.ended", minutes, talk_seconds=talk, hold_seconds=hold, acw_seconds=acw)


def test_series_from_hand_made_events() -> None:
    events = [
        ev("agent.state", 1, state="busy"),  # ignored
        ev("contact.queued", 1),  # ignored: offered counts answered + abandoned
        ev("contact.answered", 2, wait_seconds=10.0),
        ev("contact.answered", 3, wait_seconds=30.0),
        ev("contact.abandoned", 4, wait_seconds=3.0),  # short abandon on voice (≤ 5 s)
        ev("contact.abandoned", 5, wait_seconds=60.0),
        ended(6, 100, 20, 30),
        ended(14.99, 200, 0, 50),
        ev("survey.response", 7, csat=5),
        ev("survey.response", 8, csat=4),
        ev("survey.response", 9, csat=2),
        ev("survey.response", 10),  # no csat: not a csat response
        # interval 1 (15-30 min) empty; interval 2: one answered, two surveys (< 3)
        ev("contact.answered", 30, wait_seconds=0.0),
        ev("survey.response", 31, csat=5),
        ev("survey.response", 32, csat=5),
        ev("contact.abandoned", 40, queue="support", wait_seconds=3.0),  # chat: S = 0
        ev("contact.answered", 45, wait_seconds=1.0),  # at the end: outside [start, end)
        ev("contact.answered", -1, wait_seconds=1.0),  # before the start
    ]
    series = build_series(events, T0, T0 + 45 * 60)
    billing, support = series["billing"], series["support"]
    assert set(billing) == set(FIGURES)
    assert billing["offered"] == [4, 0, 1]
    assert billing["asa"][0] == 20.0 and math.isnan(billing["asa"][1]) and billing["asa"][2] == 0
    assert billing["aht"][0] == 200.0 and math.isnan(billing["aht"][2])
    assert billing["abandon_pct"][0] == pytest.approx(100 / 3)  # (2 - 1) / (4 - 1)
    assert billing["abandon_pct"][2] == 0.0 and math.isnan(billing["abandon_pct"][1])
    assert billing["csat_pct"][0] == pytest.approx(200 / 3)
    assert math.isnan(billing["csat_pct"][2])  # two responses are too few
    assert support["offered"] == [0, 0, 1] and support["abandon_pct"][2] == 100.0


def test_episodes_merge_consecutive_alarms() -> None:
    assert episodes([]) == []
    assert episodes([0.0, 900.0, 1800.0, 3600.0, 4500.0, 9000.0]) == [
        (0.0, 1800.0),
        (3600.0, 4500.0),
        (9000.0, 9000.0),
    ]


def test_detection_delay_false_positives_and_grace() -> None:
    surge = Incident("surge", "q1", T0 + 10_000, T0 + 17_200)
    found = {
        ("q1", "offered"): [T0 + t for t in (9_000, 10_900, 11_800, 30_000)],
        ("q1", "asa"): [T0 + 10_200],
        ("q2", "offered"): [T0 + 11_800],  # another queue: a false positive, not a detection
        ("q1", "aht"): [T0 + 17_200 + 3_600],  # the last second of the grace hour
        ("q1", "csat_pct"): [T0 + 17_200 + 3_601],  # just after it
    }
    rows, counts = evaluate([surge], found, since=T0)
    (row,) = rows
    assert row["detected"] and row["delay_minutes"] == 15.0  # own figure: offered at 10,900
    assert row["detected_any"] and row["delay_any_minutes"] == 200 / 60  # asa at 10,200
    assert row["first_figure"] == "asa" and row["figures"] == ["aht", "asa", "offered"]
    assert counts["episodes/offered"] == 4 and counts["false/offered"] == 3
    assert counts["episodes/asa"] == 1 and counts["false/asa"] == 0
    assert counts["false/aht"] == 0 and counts["false/csat_pct"] == 1
    # an episode that starts before the window and runs into it is a true one
    _, counts = evaluate([surge], {("q1", "offered"): [T0 + 9_100, T0 + 10_000]}, since=T0)
    assert counts == {"episodes/offered": 1, "false/offered": 0}
    # alarms before ``since`` are not scored at all
    rows, counts = evaluate([surge], found, since=T0 + 25_000)
    assert not rows[0]["detected_any"] and counts["episodes/offered"] == 1


def test_only_the_incidents_own_figure_counts_as_detection() -> None:
    drop = Incident("csat_drop", "q1", T0, T0 + 6 * 3600)
    (row,), _ = evaluate([drop], {("q1", "asa"): [T0 + 900]}, since=T0)
    assert not row["detected"] and row["delay_minutes"] is None
    assert row["detected_any"] and row["first_figure"] == "asa"


def test_summary_arithmetic() -> None:
    def row(kind: str, detected: bool, delay: float | None, chance: bool) -> dict[str, Any]:
        return {"kind": kind, "detected": detected, "delay_minutes": delay} | {
            "detected_any": True,
            "chance": chance,
            "chance_any": False,
        }

    runs = [
        {
            "incidents": [row("surge", True, 30.0, False), row("outage", False, None, True)],
            "counts": {"episodes/offered": 4, "false/offered": 3, "episodes/asa": 2},
            "control": {"false/asa": 7},
            "days": 2.0,
        },
        {
            "incidents": [row("surge", True, 60.0, True)],
            "counts": {"episodes/aht": 2, "false/aht": 1},
            "control": {"false/asa": 1},
            "days": 2.0,
        },
    ]
    s = summarize(runs)
    assert s["per_type"]["surge"] == {
        "incidents": 2,
        "recall": 1.0,
        "median_delay_minutes": 45.0,
        "max_delay_minutes": 60.0,
        "chance_recall": 0.5,
        "recall_any_figure": 1.0,
        "chance_recall_any_figure": 0.0,
    }
    assert s["per_type"]["outage"]["recall"] == 0.0 and s["per_type"]["aht_drift"]["incidents"] == 0
    assert s["precision"] == {"alarm_episodes": 8, "true_episodes": 4, "precision": 0.5}
    assert s["false_positives_per_day"]["asa"] == {"control": 2.0, "incident_run": 0.0}
    assert s["false_positives_per_day"]["offered"]["incident_run"] == 0.75


def test_tiny_end_to_end_run(tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    args = ["--days", "3", "--runs", "1", "--scale", "0.3", "--out", str(out)]
    summary = main(args)
    assert json.loads(out.read_text())["per_type"] == summary["per_type"]
    assert set(summary["per_type"]) == set(TYPES)
    assert {r["kind"] for r in summary["incidents"]} == set(TYPES)
    for figures in summary["per_type"].values():
        assert figures["incidents"] == 1
        for key in ("recall", "chance_recall", "recall_any_figure", "chance_recall_any_figure"):
            assert 0.0 <= figures[key] <= 1.0
        delay = figures["median_delay_minutes"]
        assert delay is None or 0.0 <= delay <= 49 * 60
    precision = summary["precision"]["precision"]
    assert precision is None or 0.0 <= precision <= 1.0
    for rates in summary["false_positives_per_day"].values():
        assert rates["control"] >= 0.0 and rates["incident_run"] >= 0.0
    assert summary["command"].endswith(" ".join(args))
