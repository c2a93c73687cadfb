"""The anomaly watch: intervals, gating, roll-ups, restore, and the rule and message it feeds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from processors.agents import AgentBoard
from processors.alerting import AlertEngine
from processors.anomaly_watch import INTERVAL, AnomalyWatch
from processors.figures import FigureSums
from processors.live import LiveBoard
from schemas.alerts import AnomalySettings, Rule
from schemas.tenants import TenantDirectory, TenantSettings
from streams.alerting import LiveAlerts

BILLING = ("acme", "voice", "billing")
ONLY_OFFERED = AnomalySettings(figures=("offered",))


def feed(watch: AnomalyWatch, days: int, per_interval: int, first_day: int = 0) -> list[object]:
    """``per_interval`` answered calls in every quarter hour, closing each one as time goes."""
    found = []
    for q in range(first_day * 96, (first_day + days) * 96):
        start = q * INTERVAL
        for i in range(per_interval):
            watch.add(BILLING, start + i, FigureSums(answered=1, ended=1, handle_sum=300.0))
        found += watch.close("acme", start + INTERVAL + watch.grace, ONLY_OFFERED)
    return found


def test_a_silent_queue_is_an_anomaly_with_its_start() -> None:
    watch = AnomalyWatch()
    feed(watch, 7, 12)
    silent_from = 7 * 96 * INTERVAL
    scores = []
    for q in range(4):  # nobody calls: the intervals close on the clock, counted as 0
        watch.close("acme", silent_from + (q + 1) * INTERVAL + watch.grace, ONLY_OFFERED)
        (finding,) = [f for f in watch.findings(BILLING) if f.figure == "offered"]
        scores.append(finding.score)
        assert finding.observed == 0.0 and finding.expected == pytest.approx(12, abs=1)
    assert max(scores) >= 0.98
    assert finding.since == silent_from  # the run of unusual quarter hours began at the first
    figures, samples = watch.figures(BILLING)
    assert figures["anomaly_score"] == figures["anomaly_offered"] == finding.score
    assert samples["anomaly_points"] >= 7 * 96


def test_a_few_calls_either_way_are_chance_not_news() -> None:
    watch = AnomalyWatch()
    for q in range(7 * 96):  # a quiet queue: one call every other hour
        start = q * INTERVAL
        if q % 8 == 0:
            watch.add(BILLING, start, FigureSums(answered=1))
        watch.close("acme", start + INTERVAL + watch.grace, ONLY_OFFERED)
    start = 7 * 96 * INTERVAL + INTERVAL  # three calls in a quarter hour that usually has none
    for i in range(3):
        watch.add(BILLING, start + i, FigureSums(answered=1))
    watch.close("acme", start + INTERVAL + watch.grace, ONLY_OFFERED)
    (finding,) = watch.findings(BILLING)
    assert finding.interval_start == start and finding.observed == 3.0
    assert finding.score <= 0.5  # capped: 3 where ~0.1 were expected is within Poisson chance


def test_rates_need_enough_contacts_and_roll_up_as_sums() -> None:
    watch = AnomalyWatch()
    settings = AnomalySettings(figures=("offered", "aht_seconds"), min_sample=10)
    for i in range(9):  # nine ended contacts: too few to judge AHT on
        watch.add(BILLING, 10.0 + i, FigureSums(answered=1, ended=1, handle_sum=200.0))
    watch.add(("acme", "voice", "sales"), 20.0, FigureSums(answered=1, ended=1, handle_sum=400.0))
    found = watch.close("acme", INTERVAL + watch.grace, settings)
    by = {(f.scope, f.figure): f for f in found}
    assert (BILLING, "aht_seconds") not in by
    assert by[BILLING, "offered"].observed == 9.0
    assert by[("acme", "voice", ""), "aht_seconds"].observed == pytest.approx(2200 / 10)
    assert by[("acme", "", ""), "offered"].observed == 10.0


def test_late_events_and_repeated_closes() -> None:
    watch = AnomalyWatch(grace_seconds=60)
    watch.add(BILLING, 100.0, FigureSums(answered=1))
    assert watch.next_close("acme") == INTERVAL + 60
    assert watch.close("acme", INTERVAL + 59, ONLY_OFFERED) == []  # still in its grace
    assert len(watch.close("acme", INTERVAL + 60, ONLY_OFFERED)) == 3  # queue, channel, tenant
    assert watch.close("acme", INTERVAL + 61, ONLY_OFFERED) == []  # closed once
    watch.add(BILLING, 200.0, FigureSums(answered=1))  # its quarter hour has been scored
    assert watch.late == 1


def test_restored_state_scores_exactly_like_the_running_watch() -> None:
    running = AnomalyWatch()
    feed(running, 3, 10)
    restored = AnomalyWatch()
    for scope, figure, state in running.states("acme"):
        restored.restore(scope, figure, state)
    assert len(restored) == len(running)
    a = [(f.scope, f.score, f.expected) for f in feed(running, 1, 25, first_day=3)]
    b = [(f.scope, f.score, f.expected) for f in feed(restored, 1, 25, first_day=3)]
    assert a == b and max(score for _, score, _ in a) > 0.9


def test_times_are_judged_by_ratio() -> None:
    watch = AnomalyWatch()
    settings = AnomalySettings(figures=("asa_seconds",), min_sample=1)
    for q in range(3 * 96):
        start = q * INTERVAL
        wait = 10.0 + (q % 3)
        watch.add(BILLING, start, FigureSums(answered=10, wait_sum_answered=10 * wait))
        watch.close("acme", start + INTERVAL + watch.grace, settings)
    (finding,) = [f for f in watch.findings(BILLING)]
    assert finding.lower < 10.0 < 12.0 < finding.upper  # the band is back in seconds
    assert finding.expected == pytest.approx(11, abs=1.5)


def test_the_tenant_gets_one_anomaly_rule_unless_it_writes_its_own() -> None:
    default = TenantSettings(tenant_id="acme")
    (rule,) = [r for r in default.active_rules if r.figure == "anomaly_score"]
    assert (rule.name, rule.threshold, rule.for_seconds, rule.level) == (
        "unusual-figures", 0.98, 0.0, "queue",
    )  # fmt: skip
    off = TenantSettings(tenant_id="acme", anomaly={"sensitivity": None})
    assert not [r for r in off.active_rules if r.figure.startswith("anomaly_")]
    own = Rule(name="aht-odd", figure="anomaly_aht_seconds", op="above", threshold=0.9)
    mine = TenantSettings(tenant_id="acme", rules=[own])
    assert [r.name for r in mine.active_rules] == ["aht-odd"]
    with pytest.raises(ValidationError, match="cannot watch 'in_queue_now' for anomalies"):
        AnomalySettings(figures=("in_queue_now",))


def test_the_alert_explains_what_was_expected_and_since_when() -> None:
    watch = AnomalyWatch()
    feed(watch, 7, 12)
    surge = 7 * 96 * INTERVAL + 40 * INTERVAL  # 10:00 UTC on day 8
    for q in range(42):  # day 8 as usual until 10:00, then five times the calls
        start = 7 * 96 * INTERVAL + q * INTERVAL
        for i in range(12 if q < 40 else 60):
            watch.add(BILLING, start + i, FigureSums(answered=1))
        watch.close("acme", start + INTERVAL + watch.grace, ONLY_OFFERED)
    tenants = TenantDirectory([TenantSettings(tenant_id="acme", anomaly=ONLY_OFFERED)])
    live = LiveAlerts(tenants, LiveBoard(), AgentBoard(), AlertEngine(), anomalies=watch)
    now = surge + 2 * INTERVAL
    events = live.evaluate("acme", now)
    firing = [e for e in events if e.rule == "unusual-figures" and e.state == "firing"]
    assert [e.queue_id for e in firing] == ["billing"]
    assert firing[0].message == (
        "Billing voice: unusual: 60 offered in 10:15–10:30 (expected 12, normal "
        f"{firing[0].context['anomalies'][0]['lower']:.0f}–"
        f"{firing[0].context['anomalies'][0]['upper']:.0f}) since 10:00"
    )
    since = firing[0].context["anomalies"][0]["since"]
    assert datetime.fromisoformat(since) == datetime.fromtimestamp(surge, UTC)
