"""The test oracle against hand-computed figures (shared/METRICS.md); arithmetic in comments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.tenants import SlFormula, TenantDirectory, TenantSettings
from tests.oracle import _IntervalCache, compare, interval_start, iso, recompute

_ids = itertools.count()
AT = "2026-11-22T09:05:00Z"


def contact(
    kind: str, at: str = AT, queue: str = "q1", channel: str = "voice", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": f"e-{next(_ids)}",
        "event_type": f"contact.{kind}",
        "tenant_id": extra.pop("tenant_id", "acme"),
        "occurred_at": at,
        "contact_id": f"c-{next(_ids)}",
        "channel": channel,
        "queue_id": queue,
        "agent_id": "a-1",
        **extra,
    }


def answered(wait: float, **kw: Any) -> dict[str, Any]:
    return contact("answered", wait_seconds=wait, **kw)


def abandoned(wait: float, **kw: Any) -> dict[str, Any]:
    return contact("abandoned", wait_seconds=wait, **kw)


def survey(at: str = AT, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"s-{next(_ids)}",
        "event_type": "survey.response",
        "tenant_id": "acme",
        "occurred_at": at,
        **fields,
    }


def directory(**settings: Any) -> TenantDirectory:
    return TenantDirectory([TenantSettings(tenant_id="acme", **settings)])


def row(
    rows: dict, interval: str, scope: str, start: str, channel: str = "voice", queue: str = "q1"
) -> dict[str, Any]:
    channel = "" if scope == "tenant" else channel
    queue = "" if scope != "queue" else queue
    return rows[(interval, scope, "acme", channel, queue, start)]


# Voice defaults: T = 20 s, S = 5 s.
# answered waits 10, 20 (= T), 25          → A = 3, A≤T = 2
# abandoned waits 3, 5 (= S), 12, 20 (= T), 40 → Ab = 5, ShortAb = 2 (3, 5), Ab≤T = 4 (3, 5, 12, 20)
SL_EVENTS = [answered(w) for w in (10, 20, 25)] + [abandoned(w) for w in (3, 5, 12, 20, 40)]


@pytest.mark.parametrize(
    ("formula", "expected_sl"),
    [
        (SlFormula.answered_only, 100 * 2 / 3),  # A≤T / A = 2/3
        (SlFormula.all_offered, 25.0),  # A≤T / (A + Ab) = 2/8
        (SlFormula.exclude_short_abandons, 100 * 2 / 6),  # 2 / (8 − 2)
        (SlFormula.abandons_in_threshold_met, 75.0),  # (2 + 4) / 8
        (SlFormula.exclude_abandons_in_threshold, 50.0),  # 2 / (8 − 4)
    ],
)
def test_service_level_formulas(formula: SlFormula, expected_sl: float) -> None:
    rows = recompute(SL_EVENTS, directory(sl_formula=formula))
    assert len(rows) == 12  # 4 intervals × 3 scopes, all in one interval each
    for interval, start in [("15", "09:00"), ("30", "09:00"), ("60", "09:00"), ("day", "00:00")]:
        for scope in ("queue", "channel", "tenant"):
            r = row(rows, interval, scope, f"2026-11-22T{start}:00Z")
            assert r["service_level_pct"] == pytest.approx(expected_sl)
            assert (r["offered"], r["answered"], r["abandoned"]) == (8, 3, 5)
            assert (r["short_abandoned"], r["answered_in_sl"], r["abandoned_in_sl"]) == (2, 2, 4)
            assert r["abandon_rate_pct"] == 50.0  # (5 − 2) / (8 − 2)
            assert r["asa_seconds"] == pytest.approx(55 / 3)  # (10 + 20 + 25) / 3
            assert r["max_wait_seconds"] == 40.0
            assert r["aht_seconds"] is None and r["csat_pct"] is None


def test_roll_up_is_a_ratio_of_sums_with_each_queue_its_own_formula() -> None:
    tenants = directory(
        queues={
            "a": {"sl_formula": "answered_only"},
            "b": {"sl_formula": "abandons_in_threshold_met"},
        }
    )
    events = [
        # queue a, answered_only: A≤T = 1 (10), A = 2 → 1/2 = 50 %
        *(answered(w, queue="a") for w in (10, 30)),
        *(abandoned(w, queue="a") for w in (3, 40)),
        # queue b, abandons_in_threshold_met: (A≤T + Ab≤T) / (A + Ab) = (1 + 1) / 3
        answered(5, queue="b"),
        *(abandoned(w, queue="b") for w in (12, 40)),
        # queue c on chat (T = 60, default formula): 0 / 1
        answered(70, queue="c", channel="chat"),
    ]
    rows = recompute(events, tenants)
    start = "2026-11-22T09:00:00Z"
    assert row(rows, "15", "queue", start, queue="a")["service_level_pct"] == 50.0
    assert row(rows, "15", "queue", start, queue="b")["service_level_pct"] == pytest.approx(200 / 3)
    # voice = (1 + 2) / (2 + 3) = 60 %, not the mean of 50 and 66.7 (58.3)
    assert row(rows, "15", "channel", start)["service_level_pct"] == 60.0
    # tenant = (1 + 2 + 0) / (2 + 3 + 1) = 50 %
    assert row(rows, "15", "tenant", start)["service_level_pct"] == 50.0
    # voice abandon rate: Ab = 4, ShortAb = 1 (3 ≤ S 5), A = 3 → (4 − 1) / (7 − 1) = 50 %
    assert row(rows, "day", "channel", "2026-11-22T00:00:00Z")["abandon_rate_pct"] == 50.0


def test_queue_override_of_threshold_and_short_abandon() -> None:
    tenants = directory(queues={"vip": {"sl_threshold_seconds": 10, "short_abandon_seconds": 10}})
    events = [
        answered(15, queue="vip"),
        abandoned(8, queue="vip"),
        answered(15, queue="std"),
        abandoned(8, queue="std"),
    ]
    rows = recompute(events, tenants)
    start = "2026-11-22T09:00:00Z"
    vip, std = (row(rows, "60", "queue", start, queue=q) for q in ("vip", "std"))
    # vip (T 10, S 10): 15 > T; abandon 8 ≤ S is short → SL 0 / (2 − 1) = 0, abandon 0 / 1 = 0
    assert (vip["answered_in_sl"], vip["short_abandoned"], vip["abandoned_in_sl"]) == (0, 1, 1)
    assert vip["service_level_pct"] == 0.0 and vip["abandon_rate_pct"] == 0.0
    # std (T 20, S 5): 15 ≤ T; abandon 8 > S → SL 1 / 2 = 50, abandon 1 / 2 = 50
    assert std["service_level_pct"] == 50.0 and std["abandon_rate_pct"] == 50.0
    # channel: A≤T 1, A 2, Ab 2, ShortAb 1 → SL 1 / 3, abandon (2 − 1) / (4 − 1)
    voice = row(rows, "60", "channel", start)
    assert (voice["answered_in_sl"], voice["short_abandoned"]) == (1, 1)
    assert voice["service_level_pct"] == pytest.approx(100 / 3)
    assert voice["abandon_rate_pct"] == pytest.approx(100 / 3)


def test_duplicates_count_once_keeping_the_first() -> None:
    first = answered(10)
    again = {**first, "wait_seconds": 99}  # same tenant + event_id: a duplicate
    other_tenant = {**first, "tenant_id": "globex"}  # same event_id, another tenant: distinct
    rows = recompute([first, again, first, other_tenant], directory())
    acme = row(rows, "15", "queue", "2026-11-22T09:00:00Z")
    assert acme["answered"] == 1 and acme["max_wait_seconds"] == 10.0
    assert rows[("15", "tenant", "globex", "", "", "2026-11-22T09:00:00Z")]["answered"] == 1


def test_handle_time_and_fcr_and_non_contributing_events() -> None:
    events = [
        contact("ended", talk_seconds=100, hold_seconds=20, acw_seconds=30, resolved=True),  # 150
        contact("ended", talk_seconds=200, resolved=False),  # hold, acw default 0 → 200
        contact("ended", talk_seconds=60, acw_seconds=40),  # 100, no `resolved`
        contact("queued", at="2026-11-22T11:00:00Z"),  # none of these books a figure
        {**contact("queued"), "event_type": "agent.state", "state": "available"},
    ]
    rows = recompute(events, directory())
    assert len(rows) == 12
    r = row(rows, "30", "queue", "2026-11-22T09:00:00Z")
    assert r["ended"] == 3 and r["offered"] == 0
    assert r["aht_seconds"] == 150.0  # (150 + 200 + 100) / 3
    assert r["fcr_pct"] == 50.0  # 1 resolved / 2 with `resolved` present
    assert r["service_level_pct"] is None and r["max_wait_seconds"] is None


def test_kathmandu_intervals_start_at_quarter_past_utc() -> None:
    tenants = directory(timezone="Asia/Kathmandu")  # +05:45
    events = [answered(1, at="2026-11-22T09:20:00Z"), answered(2, at="2026-11-22T09:10:00Z")]
    rows = recompute(events, tenants)
    starts = {(k[0], k[5]) for k in rows}
    assert starts == {
        ("15", "2026-11-22T09:15:00Z"),  # 09:20Z = local 15:05 → 15:00
        ("15", "2026-11-22T09:00:00Z"),  # 09:10Z = local 14:55 → 14:45
        ("30", "2026-11-22T09:15:00Z"),  # local 15:00
        ("30", "2026-11-22T08:45:00Z"),  # local 14:30
        ("60", "2026-11-22T09:15:00Z"),  # local 15:00
        ("60", "2026-11-22T08:15:00Z"),  # local 14:00
        ("day", "2026-11-21T18:15:00Z"),  # local midnight 2026-11-22
    }
    assert row(rows, "day", "tenant", "2026-11-21T18:15:00Z")["answered"] == 2


def test_paris_fall_back_day_has_25_hours_and_two_local_two_oclocks() -> None:
    # 2026-10-25: CEST (+2) until 01:00Z, then CET (+1); local 02:00–03:00 happens twice.
    events = [
        answered(1, at="2026-10-24T22:00:00Z"),  # local 00:00 on the 25th (+2)
        answered(2, at="2026-10-25T00:30:00Z"),  # local 02:30 CEST (first)
        answered(3, at="2026-10-25T01:30:00Z"),  # local 02:30 CET (second)
        answered(4, at="2026-10-25T22:59:59Z"),  # local 23:59:59 on the 25th (+1)
        answered(5, at="2026-10-25T23:00:00Z"),  # local 00:00 on the 26th
    ]
    rows = recompute(events, directory(timezone="Europe/Paris"))
    # day of the 25th: 2026-10-24T22:00Z to 2026-10-25T23:00Z = 25 hours
    assert row(rows, "day", "tenant", "2026-10-24T22:00:00Z")["answered"] == 4
    assert row(rows, "day", "tenant", "2026-10-25T23:00:00Z")["answered"] == 1
    first, second = (row(rows, "60", "queue", f"2026-10-25T0{h}:00:00Z") for h in (0, 1))
    assert first["max_wait_seconds"] == 2.0 and second["max_wait_seconds"] == 3.0
    assert row(rows, "30", "queue", "2026-10-25T01:30:00Z")["answered"] == 1  # second 02:30


def test_paris_spring_forward_day_has_23_hours() -> None:
    # 2026-03-29: CET (+1) until 01:00Z, then CEST (+2); local 02:00–03:00 does not exist.
    events = [
        answered(1, at="2026-03-28T23:00:00Z"),  # local 00:00 on the 29th
        answered(2, at="2026-03-29T00:59:59Z"),  # local 01:59:59 CET
        answered(3, at="2026-03-29T01:00:00Z"),  # local 03:00 CEST
        answered(4, at="2026-03-29T21:59:59Z"),  # local 23:59:59
        answered(5, at="2026-03-29T22:00:00Z"),  # local 00:00 on the 30th
    ]
    rows = recompute(events, directory(timezone="Europe/Paris"))
    # day of the 29th: 2026-03-28T23:00Z to 2026-03-29T22:00Z = 23 hours
    assert row(rows, "day", "queue", "2026-03-28T23:00:00Z")["answered"] == 4
    assert row(rows, "day", "queue", "2026-03-29T22:00:00Z")["answered"] == 1
    # local 01:00 and 03:00 are consecutive UTC hours
    assert row(rows, "60", "queue", "2026-03-29T00:00:00Z")["max_wait_seconds"] == 2.0
    assert row(rows, "60", "queue", "2026-03-29T01:00:00Z")["max_wait_seconds"] == 3.0


def test_day_starts_at_first_instant_when_midnight_is_skipped() -> None:
    # Havana springs forward at local 00:00 on 2026-03-08 (→ 01:00, −04:00): the day starts at
    # local 01:00 = 05:00Z and lasts 23 hours, to local midnight of the 9th = 2026-03-09T04:00Z.
    events = [answered(1, at="2026-03-08T05:00:00Z"), answered(2, at="2026-03-09T03:59:59Z")]
    rows = recompute(events, directory(timezone="America/Havana"))
    assert row(rows, "day", "tenant", "2026-03-08T05:00:00Z")["answered"] == 2
    assert row(rows, "60", "queue", "2026-03-08T05:00:00Z")["answered"] == 1


def test_day_starts_at_the_first_of_two_midnights() -> None:
    # Havana falls back at local 01:00 on 2026-11-01 (−04 → −05): midnight happens at 04:00Z and
    # again at 05:00Z. The day starts at the first; the second starts only a 60-minute interval.
    events = [answered(1, at="2026-11-01T04:30:00Z"), answered(2, at="2026-11-01T05:30:00Z")]
    rows = recompute(events, directory(timezone="America/Havana"))
    assert row(rows, "day", "tenant", "2026-11-01T04:00:00Z")["answered"] == 2
    assert row(rows, "60", "queue", "2026-11-01T05:00:00Z")["max_wait_seconds"] == 2.0


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Europe/Paris", "2026-10-25"),
        ("Australia/Lord_Howe", "2026-04-05"),  # falls back 30 minutes
        ("Australia/Lord_Howe", "2026-10-04"),  # springs forward 30 minutes
        ("America/Havana", "2026-03-08"),
        ("America/Havana", "2026-11-01"),
    ],
)
def test_hour_cache_agrees_with_direct_computation(zone: str, day: str) -> None:
    tz, cache = ZoneInfo(zone), _IntervalCache()
    first = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(hours=14)
    for step in range(0, 48 * 3600, 7 * 60 + 13):
        moment = first + timedelta(seconds=step)
        for interval, start in cache.starts(moment, tz):
            assert start == iso(interval_start(moment, tz, interval)), (moment, interval)


def test_surveys() -> None:
    q = {"channel": "chat", "queue_id": "q1"}
    events = [
        survey(
            csat=5,
            nps=10,
            servqual={
                "reliability": {"expected": 6, "perceived": 4},
                "empathy": {"expected": 5, "perceived": 6},
            },
            **q,
        ),
        survey(
            csat=4, nps=9, ces=7, servqual={"reliability": {"expected": 7, "perceived": 6}}, **q
        ),
        survey(csat=3, nps=7, ces=5, **q),
        survey(csat=1, nps=3),  # no channel / queue
    ]
    rows = recompute(events, directory())
    start = "2026-11-22T09:00:00Z"
    chat = row(rows, "15", "queue", start, channel="chat")
    assert chat["csat_pct"] == pytest.approx(200 / 3)  # 5, 4 of 5, 4, 3
    assert chat["nps"] == pytest.approx(200 / 3)  # 100·2/3 − 100·0/3
    t = row(rows, "15", "tenant", start)
    assert (
        t["csat_responses"],
        t["nps_responses"],
        t["ces_responses"],
        t["servqual_responses"],
    ) == (4, 4, 2, 2)
    assert t["csat_pct"] == 50.0  # top-2-box: 2 of 4
    assert t["csat_avg"] == 3.25  # (5 + 4 + 3 + 1) / 4
    assert t["nps"] == 25.0  # promoters 10, 9; detractor 3 → 100·2/4 − 100·1/4
    assert t["ces_avg"] == 6.0  # (7 + 5) / 2
    assert t["servqual_gap_reliability"] == -1.5  # ((4 − 6) + (6 − 7)) / 2
    assert t["servqual_gap_empathy"] == 1.0  # (6 − 5) / 1
    assert t["servqual_gap_tangibles"] is None
    assert t["offered"] == 0 and t["service_level_pct"] is None
    assert row(rows, "15", "queue", start, channel="", queue="")["csat_avg"] == 1.0
    assert row(rows, "15", "channel", start, channel="")["nps_responses"] == 1


@pytest.fixture
def expected() -> dict:
    return recompute(SL_EVENTS, directory())


def stored(expected: dict) -> list[dict[str, Any]]:
    """The expected rows as a store would return them: "+00:00" starts, ints as floats."""
    return [
        {
            **r,
            "interval_start": r["interval_start"].replace("Z", "+00:00"),
            "answered": float(r["answered"]),
        }
        for r in expected.values()
    ]


def test_compare_accepts_identical_and_tiny_differences(expected: dict) -> None:
    actual = stored(expected)
    assert compare(actual, expected) == []
    actual[0]["service_level_pct"] += 1e-12  # 33.333… + 1e-12: within rel_tol 1e-9
    assert compare(actual, expected) == []
    as_datetimes = [
        {**r, "interval_start": datetime.fromisoformat(r["interval_start"])} for r in actual
    ]
    assert compare(as_datetimes, expected) == []


def test_compare_reports_each_kind_of_difference(expected: dict) -> None:
    by_key = {k: r for k, r in zip(expected, stored(expected), strict=True)}
    q15 = ("15", "queue", "acme", "voice", "q1", "2026-11-22T09:00:00Z")
    ch60 = ("60", "channel", "acme", "voice", "", "2026-11-22T09:00:00Z")
    t15 = ("15", "tenant", "acme", "", "", "2026-11-22T09:00:00Z")
    day = ("day", "tenant", "acme", "", "", "2026-11-22T00:00:00Z")
    by_key[q15]["offered"] = 9  # a changed count
    by_key[ch60]["service_level_pct"] += 1e-6  # 33.333… + 1e-6: relative 3e-8 > 1e-9
    by_key[t15]["aht_seconds"] = 0.0  # a number where None is expected
    del by_key[day]  # a missing row
    problems = compare(by_key.values(), expected)
    sl = 100 * 2 / 6  # default formula: A≤T / (A + Ab − ShortAb)
    assert sorted(problems) == sorted(
        [
            f"missing row {day}",
            f"{q15}: offered expected 8, got 9",
            f"{ch60}: service_level_pct expected {sl!r}, got {sl + 1e-6!r} (Δ=1e-06)",
            f"{t15}: aht_seconds expected None, got 0.0",
        ]
    )
    extra = {**by_key[q15], "offered": 8, "tenant_id": "globex"}
    assert compare([*stored(expected), extra], expected) == [
        f"unexpected row {('15', 'queue', 'globex', 'voice', 'q1', '2026-11-22T09:00:00Z')}"
    ]
