"""The alert engine as a supervisor lives it (USERS.md §2): one alert when a problem starts and
one when it clears, within seconds, in words, and quiet outside business hours and meetings.

Scripted figure sequences, evaluated once a second on a fake clock (plain datetime arithmetic).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from processors.alerting import AlertEngine, ScopeFigures, resolve_threshold
from schemas.alerts import AlertEvent, AlertState, Level, Rule, Severity
from schemas.tenants import TenantSettings

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
PARIS = ZoneInfo("Europe/Paris")
PENDING, FIRING, RESOLVED = AlertState.pending, AlertState.firing, AlertState.resolved
WEEKDAYS = {day: ["08:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def sl_rule(**overrides: Any) -> Rule:
    """Service level below 80%, clears at 85%, after holding 60 s / 120 s, on ≥ 10 contacts."""
    fields: dict[str, Any] = {
        "name": "sl",
        "figure": "service_level_pct",
        "op": "below",
        "threshold": 80,
        "clear_threshold": 85,
        "min_sample": 10,
        "for": 60,
        "clear_for": 120,
    }
    return Rule(**(fields | overrides))


def tenant(*rules: Rule, **settings: Any) -> TenantSettings:
    return TenantSettings(tenant_id="acme", rules=list(rules), **settings)


def queue(
    sl: float | None, n: int = 30, queue_id: str = "billing", channel: str = "voice", **now: float
) -> ScopeFigures:
    """A queue scope with service level ``sl`` on ``n`` contacts, plus live-now figures."""
    samples = {"sl_den": n, "in_queue_now": int(now.get("in_queue_now", 0))}
    if "agents_staffed_now" in now:
        samples["agents_staffed_now"] = int(now["agents_staffed_now"])
    figures: dict[str, float | None] = {"service_level_pct": sl, **now}
    return ScopeFigures(Level.queue, "acme", channel, queue_id, figures, samples)


def feed(
    engine: AlertEngine,
    settings: TenantSettings,
    values: Iterable[float | None],
    start: datetime = T0,
    **kwargs: Any,
) -> list[AlertEvent]:
    """Evaluate the billing queue once a second from ``start``, one value per second."""
    events: list[AlertEvent] = []
    for i, value in enumerate(values):
        events += engine.evaluate(settings, [queue(value, **kwargs)], start + timedelta(seconds=i))
    return events


def states(events: list[AlertEvent]) -> list[AlertState]:
    return [e.state for e in events]


def offset(event: AlertEvent, start: datetime = T0) -> float:
    return (event.at - start).total_seconds()


# --- flapping, short dips, small samples -------------------------------------------------------


def test_flapping_around_the_threshold_gives_one_alert_and_one_all_clear() -> None:
    # 90 s clearly bad, then 30 min wobbling 78/81/79/82 (5 s each), then recovered for 200 s
    wobble = [v for _ in range(90) for v in (78.0, 81.0, 79.0, 82.0) for _ in range(5)]
    values = [70.0] * 90 + wobble + [90.0] * 200
    events = feed(AlertEngine(), tenant(sl_rule()), values)

    assert states(events) == [PENDING, FIRING, RESOLVED]
    assert [offset(e) for e in events] == [0, 60, 90 + 1800 + 120]
    assert events[2].was_firing is True
    # the same figures without hysteresis and hold times would have paged dozens of times
    naive = sl_rule(clear_threshold=None, **{"for": 0, "clear_for": 0})
    assert states(feed(AlertEngine(), tenant(naive), values)).count(FIRING) > 20


def test_a_value_between_threshold_and_clear_threshold_restarts_the_clear_timer() -> None:
    engine, settings = AlertEngine(), tenant(sl_rule())
    assert states(feed(engine, settings, [70.0] * 61)) == [PENDING, FIRING]
    # good for 100 s, one second at 82% (not bad, not good), then good again
    later = T0 + timedelta(seconds=61)
    assert feed(engine, settings, [90.0] * 100 + [82.0] + [90.0] * 120, start=later) == []
    events = feed(engine, settings, [90.0], start=later + timedelta(seconds=221))
    assert states(events) == [RESOLVED]  # 120 s after the last second at 82%


def test_a_dip_shorter_than_for_is_pending_then_dropped_without_firing() -> None:
    events = feed(AlertEngine(), tenant(sl_rule()), [70.0] * 30 + [90.0] * 120)

    assert states(events) == [PENDING, RESOLVED]
    assert [offset(e) for e in events] == [0, 30]
    assert events[1].was_firing is False
    assert events[0].alert_id == events[1].alert_id


def test_no_alert_on_three_calls_even_at_zero_percent() -> None:
    assert feed(AlertEngine(), tenant(sl_rule()), [0.0] * 600, n=3) == []
    # the same figure on ten calls does fire: the sample size is what kept it quiet
    assert states(feed(AlertEngine(), tenant(sl_rule()), [0.0] * 61, n=10)) == [PENDING, FIRING]


def test_a_firing_alert_resolves_when_the_sample_becomes_too_small() -> None:
    engine, settings = AlertEngine(), tenant(sl_rule())
    feed(engine, settings, [0.0] * 61)
    events = feed(engine, settings, [0.0] * 121, start=T0 + timedelta(seconds=61), n=3)

    assert states(events) == [RESOLVED]
    assert events[0].message == (
        "Resolved: Billing voice service level too few to judge (3 of 10 needed) after 3 min"
    )


# --- thresholds --------------------------------------------------------------------------------


SETTINGS = TenantSettings(
    tenant_id="acme",
    sl_target_pct=90,
    channels={"chat": {"sl_threshold_seconds": 60}},
    queues={"sales": {"sl_target_pct": 85}, "vip": {"sl_threshold_seconds": 10}},
)


@pytest.mark.parametrize(
    ("threshold", "figure", "channel", "queue_id", "expected"),
    [
        ("target", "service_level_pct", "voice", "billing", 90.0),  # tenant value
        ("target", "service_level_pct", "voice", "sales", 85.0),  # queue override
        ("target", "service_level_pct", "", "", 90.0),  # tenant level
        ("target", "asa_seconds", "chat", "billing", 60.0),  # ASA target defaults to T
        ("target", "abandon_rate_pct", "chat", "", 5.0),  # built-in default
        ("2*T", "longest_waiting_now_seconds", "chat", "billing", 120.0),
        ("2*T", "longest_waiting_now_seconds", "voice", "vip", 20.0),
        ("1.5*T", "longest_waiting_now_seconds", "voice", "billing", 30.0),
        ("2*T", "longest_waiting_now_seconds", "", "", 40.0),  # tenant level: voice T
        (42, "offered", "voice", "billing", 42.0),
    ],
)
def test_resolve_threshold(
    threshold: Any, figure: str, channel: str, queue_id: str, expected: float
) -> None:
    assert resolve_threshold(threshold, figure, SETTINGS, channel, queue_id) == expected


def test_target_thresholds_follow_queue_overrides() -> None:
    rule = sl_rule(threshold="target", clear_threshold=None, **{"for": 0})
    settings = SETTINGS.model_copy(update={"rules": [rule]})
    scopes = [queue(88.0, queue_id=q) for q in ("billing", "sales")]
    events = AlertEngine().evaluate(settings, scopes, T0)

    assert [(e.queue_id, e.state, e.threshold) for e in events] == [
        ("billing", PENDING, 90.0),
        ("billing", FIRING, 90.0),
    ]
    assert events[1].message.startswith("Billing voice: service level 88% (target 90%)")


def test_new_settings_take_effect_at_the_next_evaluation() -> None:
    rule = sl_rule(threshold="target", clear_threshold=None, **{"for": 0})
    engine = AlertEngine()
    assert engine.evaluate(tenant(rule, sl_target_pct=80), [queue(85.0)], T0) == []
    raised = tenant(rule, sl_target_pct=90)  # e.g. a cqm.config update
    events = engine.evaluate(raised, [queue(85.0)], T0 + timedelta(seconds=1))
    assert [(e.state, e.threshold) for e in events] == [(PENDING, 90.0), (FIRING, 90.0)]


def test_twice_t_threshold_on_the_longest_wait() -> None:
    rule = Rule(
        name="wait", figure="longest_waiting_now_seconds", op="above", threshold="2*T",
        min_sample=1, **{"for": 0},
    )  # fmt: skip
    settings = SETTINGS.model_copy(update={"rules": [rule]})
    engine = AlertEngine()
    scopes = [queue(None, channel="chat", longest_waiting_now_seconds=100.0, in_queue_now=2)]
    assert engine.evaluate(settings, scopes, T0) == []  # chat: 2*T = 120 s
    scopes = [queue(None, channel="chat", longest_waiting_now_seconds=121.0, in_queue_now=2)]
    events = engine.evaluate(settings, scopes, T0 + timedelta(seconds=1))
    assert states(events) == [PENDING, FIRING]
    assert events[1].threshold == 120.0
    assert events[1].message == "Billing chat: longest wait 2m1s (threshold 2m) · 2 waiting"
    # the queue empties: no longest wait any more (clear_for defaults to for = 0)
    empty = [queue(None, channel="chat", in_queue_now=0)]
    (cleared,) = engine.evaluate(settings, empty, T0 + timedelta(seconds=5))
    assert cleared.message == "Resolved: Billing chat longest wait cleared: nobody waiting after 4s"


def test_for_zero_emits_pending_and_firing_in_the_same_evaluation() -> None:
    events = AlertEngine().evaluate(tenant(sl_rule(**{"for": 0})), [queue(50.0)], T0)

    assert states(events) == [PENDING, FIRING]
    assert {e.at for e in events} == {T0}
    assert events[0].alert_id == events[1].alert_id


# --- business hours and mute windows ------------------------------------------------------------


def local(zone: ZoneInfo, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A wall-clock time in ``zone``, handed over in UTC as a worker's clock would give it."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=zone).astimezone(UTC)


def test_a_breach_at_night_in_the_tenant_zone_starts_nothing() -> None:
    settings = tenant(sl_rule(), timezone="Asia/Kathmandu", business_hours=WEEKDAYS)
    night = local(KATHMANDU, 23, 22)  # Monday 22:00 in Kathmandu is 16:15 UTC, a working hour
    assert feed(AlertEngine(), settings, [50.0] * 600, start=night) == []
    # a rule that is not limited to business hours still fires at that time
    always = tenant(
        sl_rule(business_hours_only=False), timezone="Asia/Kathmandu", business_hours=WEEKDAYS
    )
    assert FIRING in states(feed(AlertEngine(), always, [50.0] * 61, start=night))


def test_alerts_start_when_the_tenant_opens_local_time() -> None:
    settings = tenant(sl_rule(), timezone="Asia/Kathmandu", business_hours=WEEKDAYS)
    start = local(KATHMANDU, 24, 7, 58)  # Tuesday, two minutes before opening
    events = feed(AlertEngine(), settings, [50.0] * 300, start=start)

    assert states(events) == [PENDING, FIRING]
    assert [e.at for e in events] == [local(KATHMANDU, 24, 8), local(KATHMANDU, 24, 8, 1)]


def test_a_firing_alert_keeps_firing_and_resolves_after_hours() -> None:
    settings = tenant(sl_rule(), timezone="Asia/Kathmandu", business_hours=WEEKDAYS)
    engine, start = AlertEngine(), local(KATHMANDU, 23, 17, 50)
    events = feed(engine, settings, [50.0] * 40 * 60 + [90.0] * 180, start=start)

    assert states(events) == [PENDING, FIRING, RESOLVED]  # nothing at 18:00
    assert events[2].at == local(KATHMANDU, 23, 18, 32)
    assert events[2].was_firing is True


def test_a_pending_alert_is_dropped_at_closing_time() -> None:
    settings = tenant(sl_rule(), timezone="Asia/Kathmandu", business_hours=WEEKDAYS)
    events = feed(AlertEngine(), settings, [50.0] * 120, start=local(KATHMANDU, 23, 17, 59, 30))

    assert states(events) == [PENDING, RESOLVED]
    assert events[1].at == local(KATHMANDU, 23, 18)
    assert events[1].was_firing is False
    assert events[1].message == (
        "Muted: Billing voice service level 50% (threshold 80%): outside business hours"
    )


def test_weekly_mute_window() -> None:
    mute = [{"name": "team meeting", "days": ["mon"], "hours": "12:00-13:00"}]
    settings = tenant(sl_rule(), timezone="Europe/Paris", mute=mute)
    # Monday 12:30 to 12:55 Paris (11:30 UTC): muted; alerting starts at 13:00 sharp
    events = feed(AlertEngine(), settings, [50.0] * 35 * 60, start=local(PARIS, 23, 12, 30))
    assert [(e.state, e.at) for e in events] == [
        (PENDING, local(PARIS, 23, 13)),
        (FIRING, local(PARIS, 23, 13, 1)),
    ]
    # Tuesday at the same hour is not muted
    tuesday = feed(AlertEngine(), settings, [50.0] * 61, start=local(PARIS, 24, 12, 30))
    assert states(tuesday) == [PENDING, FIRING]


def test_one_off_mute_window_and_resolving_during_it() -> None:
    mute = [{"start": T0 + timedelta(minutes=10), "end": T0 + timedelta(minutes=30)}]
    engine, settings = AlertEngine(), tenant(sl_rule(), mute=mute)
    # bad from 09:00: fires at 09:01, recovers at 09:15 inside the mute: all-clear still sent
    events = feed(engine, settings, [50.0] * 15 * 60 + [90.0] * 5 * 60)
    assert [(e.state, offset(e)) for e in events] == [(PENDING, 0), (FIRING, 60), (RESOLVED, 1020)]
    # bad again from 09:20: nothing until the mute ends at 09:30
    later = feed(engine, settings, [50.0] * 15 * 60, start=T0 + timedelta(minutes=20))
    assert [(e.state, offset(e)) for e in later] == [(PENDING, 1800), (FIRING, 1860)]


def rollup(level: Level, figure: str, value: float, sample: str) -> ScopeFigures:
    """A voice-channel or tenant scope with one figure, on 40 of its sample."""
    channel = "voice" if level is Level.channel else ""
    return ScopeFigures(level, "acme", channel, "", {figure: value}, {sample: 40})


# --- what the supervisor reads -----------------------------------------------------------------

BILLING_NOW: dict[str, Any] = {
    "in_queue_now": 14.0,
    "longest_waiting_now_seconds": 200.0,
    "agents_available_now": 3.0,
    "agents_staffed_now": 12.0,
}


def test_messages_read_like_users_md() -> None:
    engine = AlertEngine()
    settings = tenant(sl_rule(threshold="target", clear_threshold=None, **{"clear_for": 0}))
    bad = feed(engine, settings, [62.0] * 61, **BILLING_NOW)
    good = engine.evaluate(settings, [queue(84.0)], T0 + timedelta(minutes=23))

    sentence = (
        "Billing voice: service level 62% (target 80%) for the last 15 min · 14 waiting"
        " · longest 3m20s · 3 of 12 agents available"
    )
    assert [e.message for e in bad] == [f"Pending: {sentence}", sentence]
    assert [e.message for e in good] == [
        "Resolved: Billing voice service level back to 84% (target 80%) after 23 min"
    ]
    assert bad[1].context == {
        "in_queue_now": 14,
        "longest_waiting_now_seconds": 200.0,
        "agents_available_now": 3,
        "agents_staffed_now": 12,
    }
    assert good[0].context == {}  # no live-now figures given: none made up


@pytest.mark.parametrize(
    ("rule", "scope", "message"),
    [
        (  # no agent figures: that part is left out; a chat queue; a number is a "threshold"
            {"figure": "service_level_pct", "op": "below", "threshold": 80},
            queue(70.0, queue_id="sales", channel="chat", in_queue_now=2),
            "Sales chat: service level 70% (threshold 80%) for the last 15 min · 2 waiting",
        ),
        (  # rounding must not hide the breach
            {"figure": "service_level_pct", "op": "below", "threshold": 80},
            queue(79.6),
            "Billing voice: service level 79.6% (threshold 80%) for the last 15 min",
        ),
        (
            {"figure": "asa_seconds", "op": "above", "threshold": 30},
            rollup(Level.channel, "asa_seconds", 45.2, "answered"),
            "Voice: ASA 45s (threshold 30s) for the last 15 min",
        ),
        (
            {"figure": "nps", "op": "below", "threshold": 10},
            rollup(Level.tenant, "nps", -12.0, "nps_responses"),
            "acme: NPS -12 (threshold +10) for the last 15 min",
        ),
        (
            {"figure": "csat_avg", "op": "below", "threshold": 4},
            rollup(Level.tenant, "csat_avg", 3.84, "csat_responses"),
            "acme: average CSAT 3.8 (threshold 4.0) for the last 15 min",
        ),
    ],
)  # fmt: skip
def test_message_units_and_scope_labels(
    rule: dict[str, Any], scope: ScopeFigures, message: str
) -> None:
    settings = tenant(Rule(name="r", level=scope.level, min_sample=1, **rule, **{"for": 0}))
    events = AlertEngine().evaluate(settings, [scope], T0)
    assert [e.message for e in events] == [f"Pending: {message}", message]


def test_link_to_the_supervisor_dashboard_for_that_queue_and_time() -> None:
    template = (
        "https://grafana/d/sup?var-tenant={tenant}&var-queue={queue}&from={from_ms}&to={to_ms}"
    )
    events = feed(AlertEngine(link_template=template), tenant(sl_rule()), [50.0] * 61)
    start_ms = int(T0.timestamp() * 1000)

    assert events[1].link == (
        f"https://grafana/d/sup?var-tenant=acme&var-queue=billing"
        f"&from={start_ms - 15 * 60 * 1000}&to={start_ms + 60 * 1000}"
    )
    assert feed(AlertEngine(), tenant(sl_rule()), [50.0])[0].link is None
    with pytest.raises(ValueError, match=r"\{queue\}"):
        AlertEngine(link_template="https://grafana/d/sup?var-queue={queue_id}")


# --- identity and restarts ---------------------------------------------------------------------


def test_alert_key_is_stable_and_alert_id_marks_one_incident() -> None:
    engine, settings = AlertEngine(), tenant(sl_rule())
    first = feed(engine, settings, [50.0] * 61 + [90.0] * 121)
    second = feed(engine, settings, [50.0] * 61, start=T0 + timedelta(hours=1))
    key = "acme/sl/queue/voice/billing"

    assert states(first) == [PENDING, FIRING, RESOLVED]
    assert {e.alert_key for e in first + second} == {key}
    assert {e.alert_id for e in first} == {f"{key}@{T0.isoformat()}"}
    assert {e.alert_id for e in second} == {f"{key}@{(T0 + timedelta(hours=1)).isoformat()}"}
    assert all(e.started_at == T0 for e in first)


def test_queues_have_separate_alerts() -> None:
    rule = sl_rule(**{"for": 0})
    events = AlertEngine().evaluate(
        tenant(rule), [queue(50.0), queue(95.0, queue_id="sales"), queue(40.0, queue_id="vip")], T0
    )
    assert [(e.queue_id, e.state) for e in events] == [
        ("billing", PENDING),
        ("billing", FIRING),
        ("vip", PENDING),
        ("vip", FIRING),
    ]


def test_restore_continues_a_firing_alert_after_a_restart() -> None:
    settings = tenant(sl_rule())
    before = feed(AlertEngine(), settings, [50.0] * 90)
    assert states(before) == [PENDING, FIRING]

    restarted = AlertEngine()
    restarted.restore(reversed(before))  # the order the log hands them back does not matter
    assert restarted.active() == [before[1]]
    after = feed(restarted, settings, [50.0] * 300 + [90.0] * 121, start=T0 + timedelta(minutes=2))
    assert states(after) == [RESOLVED]  # no second pending or firing
    assert after[0].alert_id == before[0].alert_id
    assert after[0].was_firing is True
    # without restore the same figures would have paged again
    assert FIRING in states(feed(AlertEngine(), settings, [50.0] * 61, start=T0))


def test_restore_keeps_the_for_timer_and_ignores_resolved_incidents() -> None:
    settings = tenant(sl_rule())
    pending = feed(AlertEngine(), settings, [50.0] * 30)
    restarted = AlertEngine()
    restarted.restore(pending)
    events = feed(restarted, settings, [50.0] * 60, start=T0 + timedelta(seconds=30))
    assert [(e.state, offset(e)) for e in events] == [(FIRING, 60)]  # 60 s after the breach began

    # for = 0: pending and firing share one instant; firing is the later state
    instant = AlertEngine().evaluate(tenant(sl_rule(**{"for": 0})), [queue(50.0)], T0)
    restarted = AlertEngine()
    restarted.restore(reversed(instant))
    assert states(restarted.active()) == [FIRING]

    done = feed(AlertEngine(), settings, [50.0] * 61 + [90.0] * 121)
    restarted = AlertEngine()
    restarted.restore(done)
    assert restarted.active() == []


def test_an_alert_whose_scope_or_rule_disappears_resolves() -> None:
    engine, settings = AlertEngine(), tenant(sl_rule())
    feed(engine, settings, [50.0] * 61)
    assert len(engine.active()) == 1
    # the rule is removed from the tenant's settings: no data for it any more
    events = [
        e
        for i in range(121)
        for e in engine.evaluate(tenant(), [queue(50.0)], T0 + timedelta(seconds=61 + i))
    ]
    assert [(e.state, e.was_firing) for e in events] == [(RESOLVED, True)]
    assert (
        events[0].message == "Resolved: Billing voice service level no longer measured after 3 min"
    )
    assert engine.active() == []


# --- agent scopes ------------------------------------------------------------------------------


def agent(agent_id: str, n: int = 20, **figures: float) -> ScopeFigures:
    """An agent scope with ``figures`` on ``n`` ended contacts and ``n`` CSAT responses."""
    samples = {"ended": n, "csat_responses": n}
    return ScopeFigures(Level.agent, "acme", "", "", figures, samples, agent_id=agent_id)


def aht_rule(**overrides: Any) -> Rule:
    """AHT above 10 min for any agent, on ≥ 5 contacts, at once."""
    fields: dict[str, Any] = {
        "name": "aht", "figure": "aht_seconds", "op": "above", "threshold": 600,
        "level": "agent", "min_sample": 5, "for": 0, "clear_for": 0,
    }  # fmt: skip
    return Rule(**(fields | overrides))


def test_an_agent_rule_fires_only_for_the_agent_above_the_threshold() -> None:
    engine, settings = AlertEngine(), tenant(aht_rule(), sl_rule(**{"for": 0}))
    scopes = [
        agent("a-7", aht_seconds=665.0),
        agent("a-8", aht_seconds=400.0),
        agent("a-9", n=2, aht_seconds=900.0),  # too few contacts to judge
        queue(50.0),
    ]
    events = engine.evaluate(settings, scopes, T0)

    assert [(e.rule, e.agent_id, e.state) for e in events] == [
        ("aht", "a-7", PENDING), ("aht", "a-7", FIRING), ("sl", "", PENDING), ("sl", "", FIRING),
    ]  # fmt: skip
    fired = events[1]
    assert (fired.scope, fired.channel, fired.queue_id) == (Level.agent, "", "")
    assert fired.message == "Agent a-7: AHT 11m5s (threshold 10m) for the last 15 min"
    assert fired.context == {}  # no waiting or agents-available figures on an agent
    assert fired.alert_key == "acme/aht/agent/a-7"
    assert events[3].alert_key == "acme/sl/queue/voice/billing"  # queue keys are unchanged

    # after a restart the agent's alert carries on, and resolves once
    restarted = AlertEngine()
    restarted.restore(events)
    assert [e.agent_id for e in restarted.active()] == ["a-7", ""]
    later = T0 + timedelta(minutes=3)
    assert restarted.evaluate(settings, [agent("a-7", aht_seconds=700.0), queue(50.0)], T0) == []
    (resolved,) = restarted.evaluate(
        settings, [agent("a-7", aht_seconds=500.0), queue(50.0)], later
    )
    assert resolved.alert_id == fired.alert_id
    assert resolved.message == "Resolved: Agent a-7 AHT back to 8m20s (threshold 10m) after 3 min"
    # rows from a store without an agent_id column still restore to the agent's alert
    stored = [e.model_copy(update={"agent_id": ""}) for e in events]
    restarted = AlertEngine()
    restarted.restore(stored)
    assert restarted.evaluate(settings, [agent("a-7", aht_seconds=700.0), queue(50.0)], T0) == []
    assert [e.agent_id for e in restarted.active()] == ["a-7", ""]


def test_an_agent_rule_can_watch_one_agent_against_the_tenant_target() -> None:
    rule = Rule(
        name="csat", figure="csat_pct", op="below", threshold="target", level="agent",
        agent_id="a-7", min_sample=5, **{"for": 0},
    )  # fmt: skip
    # a queue override of the target does not apply to agents: the tenant's 70% does
    settings = tenant(rule, csat_target_pct=70, queues={"billing": {"csat_target_pct": 90}})
    scopes = [agent("a-7", csat_pct=65.0), agent("a-8", csat_pct=40.0)]
    events = AlertEngine().evaluate(settings, scopes, T0)

    assert [(e.agent_id, e.state, e.threshold) for e in events] == [
        ("a-7", PENDING, 70.0),
        ("a-7", FIRING, 70.0),
    ]
    assert events[1].message == "Agent a-7: CSAT 65% (target 70%) for the last 15 min"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"queue_id": "billing"}, "agent-level rule cannot filter on queue_id: remove queue_id"),
        ({"channel": "voice"}, "agent-level rule cannot filter on channel: remove channel"),
        ({"level": "queue", "agent_id": "a-7"}, "set level 'agent' or remove agent_id"),
    ],
)
def test_agent_rules_are_validated(overrides: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        aht_rule(**overrides)


# --- the default rules -------------------------------------------------------------------------


def default_queue(**figures: float) -> ScopeFigures:
    samples = {
        "sl_den": 30, "abandon_den": 30, "answered": 30,
        "in_queue_now": int(figures["in_queue_now"]),
        "agents_staffed_now": int(figures["agents_staffed_now"]),
    }  # fmt: skip
    return ScopeFigures(Level.queue, "acme", "voice", "billing", figures, samples)


def run_defaults(scope: ScopeFigures, seconds: int) -> list[AlertEvent]:
    engine, settings = AlertEngine(), TenantSettings(tenant_id="acme")  # no rules: the defaults
    events: list[AlertEvent] = []
    for i in range(seconds):
        events += engine.evaluate(settings, [scope], T0 + timedelta(seconds=i))
    return events


def test_default_rules_fire_for_a_collapsing_queue() -> None:
    scope = default_queue(
        service_level_pct=40.0, abandon_rate_pct=2.0, asa_seconds=15.0, in_queue_now=1.0,
        longest_waiting_now_seconds=10.0, waiting_with_no_agent_available=0.0,
        agents_available_now=2.0, agents_staffed_now=5.0,
    )  # fmt: skip
    events = run_defaults(scope, 120)

    assert [(e.rule, e.state, offset(e)) for e in events] == [
        ("service-level-below-target", PENDING, 0),
        ("service-level-below-target", FIRING, 60),
    ]
    assert events[1].message.startswith("Billing voice: service level 40% (target 80%)")


def test_default_rules_fire_when_contacts_wait_with_no_agent_available() -> None:
    scope = default_queue(
        service_level_pct=90.0, abandon_rate_pct=2.0, asa_seconds=15.0, in_queue_now=3.0,
        longest_waiting_now_seconds=30.0, waiting_with_no_agent_available=3.0,
        agents_available_now=0.0, agents_staffed_now=4.0,
    )  # fmt: skip
    events = run_defaults(scope, 130)

    assert [(e.rule, e.state, offset(e)) for e in events] == [
        ("waiting-with-no-agent-available", PENDING, 0),
        ("waiting-with-no-agent-available", FIRING, 120),  # held for two minutes
    ]
    assert events[1].severity is Severity.critical
    assert events[1].message == (
        "Billing voice: 3 waiting with no agent available (threshold 0)"
        " · longest 30s · 0 of 4 agents available"
    )
    # the queue empties: the all-clear comes after clear_for (60 s) and says why
    empty = default_queue(
        service_level_pct=90.0, abandon_rate_pct=2.0, asa_seconds=15.0, in_queue_now=0.0,
        waiting_with_no_agent_available=0.0, agents_available_now=0.0, agents_staffed_now=4.0,
    )  # fmt: skip
    engine, settings = AlertEngine(), TenantSettings(tenant_id="acme")
    for i in range(121):
        engine.evaluate(settings, [scope], T0 + timedelta(seconds=i))
    cleared = [
        e
        for i in range(121, 200)
        for e in engine.evaluate(settings, [empty], T0 + timedelta(seconds=i))
    ]
    assert [(e.state, offset(e)) for e in cleared] == [(RESOLVED, 181)]
    assert cleared[0].message == (
        "Resolved: Billing voice waiting with no agent available back to 0 (threshold 0)"
        " after 3 min"
    )


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        AlertEngine().evaluate(tenant(sl_rule()), [queue(50.0)], datetime(2026, 11, 23, 9))
