"""The event simulator: valid, reproducible, ordered, and realistic enough to test figures on."""

from __future__ import annotations

import dataclasses
import doctest
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.decode import validate_event
from streams import simulator
from streams.simulator import (
    CHANNELS,
    SimConfig,
    SimQueue,
    SimTenant,
    default_config,
    disorder,
    simulate,
)

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
Event = dict[str, Any]


def at(event: Event) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


def by_type(events: list[Event], event_type: str) -> list[Event]:
    return [e for e in events if e["event_type"] == event_type]


@pytest.fixture(scope="module")
def day() -> list[Event]:
    return list(simulate(default_config(MONDAY, timedelta(days=1))))


def one_queue(agents: int) -> SimConfig:
    queue = SimQueue("billing", "voice", agents, 120, 300, 90)
    tenant = SimTenant("solo", "Europe/Paris", (queue,))
    return SimConfig((tenant,), datetime(2026, 11, 23, 7, tzinfo=UTC), timedelta(hours=12), 3)


def test_every_event_of_a_few_hours_is_valid_and_json_ready() -> None:
    events = list(
        simulate(default_config(datetime(2026, 11, 23, 6, tzinfo=UTC), timedelta(hours=6)))
    )
    assert len(events) > 3000
    for event in events:
        validate_event(json.loads(json.dumps(event)))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["occurred_at"])
    assert {e["event_type"] for e in events} == {
        "contact.queued",
        "contact.answered",
        "contact.abandoned",
        "contact.ended",
        "survey.response",
        "agent.state",
        "evaluation.completed",
    }
    assert {e["channel"] for e in events if "channel" in e} == set(CHANNELS)


def test_a_day_has_a_realistic_volume(day: list[Event]) -> None:
    assert 20_000 <= len(day) <= 80_000
    contacts = Counter(e["tenant_id"] for e in by_type(day, "contact.queued"))
    assert set(contacts) == {"acme", "globex", "initech"}
    assert all(count > 800 for count in contacts.values())


def test_same_seed_same_events_other_seed_other_events() -> None:
    config = default_config(MONDAY + timedelta(hours=8), timedelta(hours=2), seed=7)
    first, again = list(simulate(config)), list(simulate(config))
    other = list(simulate(dataclasses.replace(config, seed=8)))
    assert first == again
    assert [e["occurred_at"] for e in first] != [e["occurred_at"] for e in other]


def test_consecutive_days_differ_and_ids_never_collide(day: list[Event]) -> None:
    tuesday = list(simulate(default_config(MONDAY + timedelta(days=1), timedelta(hours=3))))
    ids = Counter((e["tenant_id"], e["event_id"]) for e in day + tuesday)
    assert ids.most_common(1)[0][1] == 1
    contact_ids = {e["contact_id"] for e in by_type(day + tuesday, "contact.queued")}
    assert len(contact_ids) == len(by_type(day + tuesday, "contact.queued"))
    shifted = [at(e) + timedelta(days=1) for e in day[:200]]
    assert shifted != [at(e) for e in tuesday[:200]]


def test_events_come_in_occurred_at_order(day: list[Event]) -> None:
    times = [at(e) for e in day]
    assert times == sorted(times)
    assert times[0] >= MONDAY and times[-1] < MONDAY + timedelta(days=1)


def test_each_contact_is_queued_then_answered_xor_abandoned_then_ended(day: list[Event]) -> None:
    seen: dict[str, dict[str, Event]] = defaultdict(dict)
    for event in day:
        if event["event_type"].startswith("contact."):
            kind = event["event_type"].removeprefix("contact.")
            assert kind not in seen[event["contact_id"]], "one event of each kind per contact"
            seen[event["contact_id"]][kind] = event
    for contact in seen.values():
        queued = contact["queued"]  # the window starts empty, so no contact lacks one
        assert not ("answered" in contact and "abandoned" in contact)
        for kind in ("answered", "abandoned"):
            if kind in contact:
                waited = (at(contact[kind]) - at(queued)).total_seconds()
                assert contact[kind]["wait_seconds"] == pytest.approx(waited, abs=0.0015)
        if "ended" in contact:
            answered, ended = contact["answered"], contact["ended"]
            assert ended["agent_id"] == answered["agent_id"]
            handled = ended["talk_seconds"] + ended["hold_seconds"] + ended["acw_seconds"]
            gap = (at(ended) - at(answered)).total_seconds()
            assert gap == pytest.approx(handled, abs=0.0015)
    outcomes = Counter(
        "answered" if "answered" in c else "abandoned" if "abandoned" in c else "open"
        for c in seen.values()
    )
    assert outcomes["answered"] > 10 * outcomes["abandoned"] > 0
    assert outcomes["open"] < 50  # only contacts cut off at the end of the window


def test_agents_are_busy_while_they_talk_and_never_serve_two_contacts(day: list[Event]) -> None:
    state: dict[str, str] = {}
    queues: dict[str, list[str]] = {}
    serving: dict[str, str] = {}
    for event in day:
        agent = str(event.get("agent_id"))
        if event["event_type"] == "agent.state":
            queues[agent] = event["queue_ids"]
            assert state.get(agent) != event["state"], "a state event is a change"
            state[agent] = event["state"]
        elif event["event_type"] == "contact.answered":
            assert state[agent] == "busy" and agent not in serving
            assert event["queue_id"] in queues[agent]
            serving[agent] = event["contact_id"]
        elif event["event_type"] == "contact.ended":
            assert state[agent] in ("busy", "acw")
            assert serving.pop(agent) == event["contact_id"]
    states = Counter(e["state"] for e in by_type(day, "agent.state"))
    assert set(states) == {"available", "busy", "acw", "aux", "offline"}


def test_fewer_agents_mean_longer_waits_and_more_abandons() -> None:
    def outcome(agents: int) -> tuple[float, float]:
        events = list(simulate(one_queue(agents)))
        waits = [e["wait_seconds"] for e in by_type(events, "contact.answered")]
        abandoned = len(by_type(events, "contact.abandoned"))
        return abandoned / (abandoned + len(waits)), statistics.mean(waits)

    short_abandons, short_wait = outcome(agents=12)
    ample_abandons, ample_wait = outcome(agents=40)
    assert short_abandons > 0.15 and ample_abandons < 0.05
    assert short_wait > 3 * ample_wait


def test_arrivals_follow_each_tenants_local_clock_across_a_dst_change() -> None:
    # New York leaves DST on 2026-11-01; two days around it, counted by local hour.
    config = default_config(datetime(2026, 10, 31, tzinfo=UTC), timedelta(days=2))
    zones = {t.tenant_id: ZoneInfo(t.timezone) for t in config.tenants}
    by_hour: dict[str, Counter[int]] = defaultdict(Counter)
    for event in simulate(config):
        if event["event_type"] == "contact.queued":
            by_hour[event["tenant_id"]][at(event).astimezone(zones[event["tenant_id"]]).hour] += 1
    for tenant, hours in by_hour.items():
        night = sum(hours[h] for h in range(0, 6))
        midday = sum(hours[h] for h in range(9, 15))
        assert midday > 8 * night, (tenant, night, midday)


def test_about_the_configured_share_of_contacts_get_a_survey(day: list[Event]) -> None:
    cutoff = MONDAY + timedelta(hours=23)  # later surveys fall past the window
    ended = {e["contact_id"] for e in by_type(day, "contact.ended") if at(e) < cutoff}
    surveys = [e for e in by_type(day, "survey.response") if e["contact_id"] in ended]
    assert len(surveys) / len(ended) == pytest.approx(0.3, abs=0.04)
    assert all("csat" in s for s in surveys)
    assert 0.6 < sum("nps" in s for s in surveys) / len(surveys) < 0.8
    assert any("ces" in s for s in surveys) and any("servqual" in s for s in surveys)
    none = list(simulate(dataclasses.replace(one_queue(30), survey_share=0.0)))
    assert not by_type(none, "survey.response")


def test_satisfaction_falls_with_the_wait() -> None:
    events = list(simulate(dataclasses.replace(one_queue(12), survey_share=1.0)))
    wait = {e["contact_id"]: e["wait_seconds"] for e in by_type(events, "contact.answered")}
    pairs = [(wait[s["contact_id"]], s["csat"]) for s in by_type(events, "survey.response")]
    quick = [csat for waited, csat in pairs if waited <= 20]
    slow = [csat for waited, csat in pairs if waited > 40]
    assert len(quick) > 300 and len(slow) > 50
    assert statistics.mean(quick) > statistics.mean(slow) + 0.4


def test_evaluations_are_mostly_internal_with_some_external(day: list[Event]) -> None:
    evaluations = by_type(day, "evaluation.completed")
    sources = Counter(e["source"] for e in evaluations)
    assert sources["internal"] > 0.6 * len(evaluations)
    assert all(40 <= e["score"] <= 100 for e in evaluations)
    assert any("criteria" in e for e in evaluations) and any(
        "criteria" not in e for e in evaluations
    )


def test_default_config_cycles_zones_and_scales_load() -> None:
    five = default_config(MONDAY, timedelta(hours=1), tenants=5)
    assert len({t.tenant_id for t in five.tenants}) == 5
    assert len({t.timezone for t in five.tenants}) == 5
    for tenant in five.tenants:
        assert {"voice", "chat"} <= {q.channel for q in tenant.queues}
    base, double = (
        default_config(MONDAY, timedelta(hours=1)),
        default_config(MONDAY, timedelta(hours=1), scale=2.0),
    )
    for small, big in zip(base.tenants[0].queues, double.tenants[0].queues, strict=True):
        assert big.peak_arrivals_per_hour == 2 * small.peak_arrivals_per_hour
        assert big.agents >= 2 * small.agents - 1


def test_bad_configs_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimConfig((), datetime(2026, 11, 23), timedelta(hours=1))
    with pytest.raises(ValueError, match="channel must be one of"):
        SimQueue("q", "fax", 3, 10, 300, 60)


def test_disorder_delays_duplicates_and_keeps_every_event() -> None:
    events = list(simulate(default_config(MONDAY + timedelta(hours=8), timedelta(hours=3))))
    late_by = timedelta(minutes=30)
    arrived = disorder(events, seed=1, duplicate_share=0.05, late_share=0.02, late_by=late_by)
    assert arrived == disorder(events, seed=1, duplicate_share=0.05, late_share=0.02)
    assert arrived != disorder(events, seed=2, duplicate_share=0.05, late_share=0.02)

    originals = {(e["tenant_id"], e["event_id"]): e for e in events}
    copies = Counter((e["tenant_id"], e["event_id"]) for e in arrived)
    assert set(copies) == set(originals)
    assert max(copies.values()) == 2
    assert sum(copies.values()) - len(events) == pytest.approx(0.05 * len(events), rel=0.2)
    assert all(e == originals[(e["tenant_id"], e["event_id"])] for e in arrived)

    newest, late, reordered = MONDAY, 0, 0
    for event in arrived:
        reordered += at(event) < newest
        late += newest - at(event) > late_by
        newest = max(newest, at(event))
    assert late == pytest.approx(0.02 * len(events), rel=0.3)
    assert reordered > 0.1 * len(events)  # jitter alone reorders close neighbours


def test_docstring_examples_run() -> None:
    # pytest's testpaths do not include streams/, so run the module's examples here.
    assert doctest.testmod(simulator).failed == 0
