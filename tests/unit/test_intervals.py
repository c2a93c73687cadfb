"""Intervals aligned to the tenant's time zone (METRICS.md "Intervals"), across DST changes."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.intervals import (
    Interval,
    IntervalCalendar,
    interval_bounds,
    interval_end,
    interval_start,
)

M15, M30, M60, DAY = Interval.m15, Interval.m30, Interval.m60, Interval.day
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
HAVANA = ZoneInfo("America/Havana")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def starts_between(
    first: datetime, last: datetime, zone: ZoneInfo, kind: Interval
) -> list[datetime]:
    """All interval starts in [first, last), by walking interval_end from interval_start."""
    found = []
    start = interval_start(first, zone, kind)
    if start < first:
        start = interval_end(start, zone, kind)
    while start < last:
        found.append(start)
        start = interval_end(start, zone, kind)
    return found


def check_bounds(
    zone: ZoneInfo, instant: datetime, kind: Interval, start: datetime, end: datetime
) -> None:
    assert interval_bounds(instant, zone, kind) == (start, end)
    assert interval_start(instant, zone, kind) == start
    assert interval_end(instant, zone, kind) == end
    assert IntervalCalendar(zone).start(instant, kind) == start


# --- fixed examples ------------------------------------------------------------------------------


EVENT = utc(2026, 5, 5, 13, 47, 12)


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        (M15, utc(2026, 5, 5, 13, 45), utc(2026, 5, 5, 14)),
        (M30, utc(2026, 5, 5, 13, 30), utc(2026, 5, 5, 14)),
        (M60, utc(2026, 5, 5, 13), utc(2026, 5, 5, 14)),
        (DAY, utc(2026, 5, 5), utc(2026, 5, 6)),
    ],
)
def test_utc(kind: Interval, start: datetime, end: datetime) -> None:
    check_bounds(ZoneInfo("UTC"), EVENT, kind, start, end)
    check_bounds(ZoneInfo("UTC"), start, kind, start, end)  # a start belongs to its interval


KATHMANDU_EVENT = utc(2026, 1, 15, 10, 7)  # 15:52 local (+05:45)


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        (M15, utc(2026, 1, 15, 10), utc(2026, 1, 15, 10, 15)),  # 15:45 local
        (M30, utc(2026, 1, 15, 9, 45), utc(2026, 1, 15, 10, 15)),  # 15:30
        (M60, utc(2026, 1, 15, 9, 15), utc(2026, 1, 15, 10, 15)),  # 15:00
        (DAY, utc(2026, 1, 14, 18, 15), utc(2026, 1, 15, 18, 15)),  # midnight
    ],
)
def test_kathmandu(kind: Interval, start: datetime, end: datetime) -> None:
    check_bounds(ZoneInfo("Asia/Kathmandu"), KATHMANDU_EVENT, kind, start, end)


@pytest.mark.parametrize(
    ("instant", "kind", "start", "end"),
    [
        (utc(2026, 6, 1, 10, 10), M60, utc(2026, 6, 1, 9, 30), utc(2026, 6, 1, 10, 30)),
        (utc(2026, 6, 1, 10, 40), M60, utc(2026, 6, 1, 10, 30), utc(2026, 6, 1, 11, 30)),
        (utc(2026, 6, 1, 10, 10), DAY, utc(2026, 5, 31, 18, 30), utc(2026, 6, 1, 18, 30)),
    ],
    ids=str,
)
def test_kolkata(instant: datetime, kind: Interval, start: datetime, end: datetime) -> None:
    check_bounds(ZoneInfo("Asia/Kolkata"), instant, kind, start, end)


def test_kathmandu_half_hours_start_at_quarter_past_and_quarter_to_utc() -> None:
    zone = ZoneInfo("Asia/Kathmandu")
    starts = starts_between(utc(2026, 1, 15), utc(2026, 1, 17), zone, M30)
    assert len(starts) == 96
    assert {s.minute for s in starts} == {15, 45}


def test_kolkata_hours_start_at_half_past_utc() -> None:
    starts = starts_between(utc(2026, 1, 15), utc(2026, 1, 17), ZoneInfo("Asia/Kolkata"), M60)
    assert len(starts) == 48
    assert {s.minute for s in starts} == {30}


def test_results_do_not_depend_on_the_zone_of_the_instant() -> None:
    in_tokyo = datetime(2026, 10, 25, 10, 20, tzinfo=ZoneInfo("Asia/Tokyo"))  # 01:20Z
    in_plus2 = datetime(2026, 10, 25, 3, 20, tzinfo=timezone(timedelta(hours=2)))  # 01:20Z
    for kind in Interval:
        expected = interval_start(utc(2026, 10, 25, 1, 20), PARIS, kind)
        assert interval_start(in_tokyo, PARIS, kind) == expected
        assert IntervalCalendar(PARIS).start(in_plus2, kind) == expected
        assert expected.tzinfo is UTC


# --- Europe/Paris --------------------------------------------------------------------------------


def test_paris_fall_back_day_lasts_25_hours() -> None:
    start, end = interval_bounds(utc(2026, 10, 25, 12), PARIS, DAY)
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))  # midnight CEST to CET
    assert len(starts_between(start, end, PARIS, M60)) == 25
    assert len(starts_between(start, end, PARIS, M15)) == 100


def test_paris_fall_back_repeated_hour_is_two_intervals() -> None:
    # 03:00 CEST (01:00Z) becomes 02:00 CET: local 02:00-03:00 happens twice.
    first = interval_bounds(utc(2026, 10, 25, 0, 30), PARIS, M60)
    second = interval_bounds(utc(2026, 10, 25, 1, 30), PARIS, M60)
    assert first == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert second == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))
    assert first[0].astimezone(PARIS).hour == second[0].astimezone(PARIS).hour == 2


def test_paris_fall_back_quarter_hours_in_repeated_hour_are_distinct() -> None:
    first = interval_bounds(utc(2026, 10, 25, 0, 20), PARIS, M15)
    second = interval_bounds(utc(2026, 10, 25, 1, 20), PARIS, M15)
    assert first == (utc(2026, 10, 25, 0, 15), utc(2026, 10, 25, 0, 30))
    assert second == (utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 1, 30))
    local = [s.astimezone(PARIS) for s in (first[0], second[0])]
    assert [(t.hour, t.minute) for t in local] == [(2, 15), (2, 15)]
    assert [t.fold for t in local] == [0, 1]


def test_paris_spring_forward_day_lasts_23_hours_without_a_2_am_hour() -> None:
    start, end = interval_bounds(utc(2026, 3, 29, 12), PARIS, DAY)
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    for kind, count in [(M60, 23), (M30, 46), (M15, 92)]:
        starts = starts_between(start, end, PARIS, kind)
        assert len(starts) == count
        assert all(s.astimezone(PARIS).hour != 2 for s in starts)
    # 01:00 CET is followed directly by 03:00 CEST, at 01:00Z.
    assert interval_bounds(utc(2026, 3, 29, 0, 59), PARIS, M60) == (
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
    )


# --- America/New_York ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "kind", "start", "end"),
    [
        # 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
        (utc(2026, 3, 8, 12), DAY, utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
        (utc(2026, 3, 8, 6, 59), M60, utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)),
        (utc(2026, 3, 8, 7), M60, utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)),
        # 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST; 01:30 happens twice.
        (utc(2026, 11, 1, 12), DAY, utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),
        (utc(2026, 11, 1, 5, 45), M30, utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6)),
        (utc(2026, 11, 1, 6, 45), M30, utc(2026, 11, 1, 6, 30), utc(2026, 11, 1, 7)),
        (utc(2026, 11, 1, 6, 59), M60, utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)),
    ],
    ids=str,
)
def test_new_york(instant: datetime, kind: Interval, start: datetime, end: datetime) -> None:
    check_bounds(NEW_YORK, instant, kind, start, end)


# --- America/Havana: DST starts at local midnight ------------------------------------------------


def test_havana_midnight_really_is_skipped_in_2026() -> None:
    # Guards the premise of the next test against tzdata changes: 00:00 on 2026-03-08 does not
    # exist in Havana (00:00 CST jumps to 01:00 CDT at 05:00Z).
    wall = datetime(2026, 3, 8, 0, 0, tzinfo=HAVANA)
    assert wall.astimezone(UTC).astimezone(HAVANA).replace(tzinfo=None) != datetime(2026, 3, 8)


def test_havana_spring_forward_day_starts_at_1_am() -> None:
    start, end = interval_bounds(utc(2026, 3, 8, 12), HAVANA, DAY)
    assert (start, end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))
    assert start.astimezone(HAVANA).replace(tzinfo=None) == datetime(2026, 3, 8, 1)
    assert hours(end - start) == 23
    assert interval_bounds(utc(2026, 3, 8, 4, 59), HAVANA, DAY) == (utc(2026, 3, 7, 5), start)
    # The first hour of the day is 01:00 CDT; the hour before it is 23:00 CST.
    assert interval_bounds(utc(2026, 3, 8, 5), HAVANA, M60) == (
        utc(2026, 3, 8, 5),
        utc(2026, 3, 8, 6),
    )
    assert interval_bounds(utc(2026, 3, 8, 4, 59), HAVANA, M60) == (utc(2026, 3, 8, 4), start)


def test_havana_fall_back_repeats_midnight_hour_but_not_the_day() -> None:
    # 2026-11-01 01:00 CDT (05:00Z) becomes 00:00 CST: local 00:00-01:00 happens twice.
    start, end = interval_bounds(utc(2026, 11, 1, 5, 30), HAVANA, DAY)
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    assert hours(end - start) == 25
    midnight_hours = [
        s for s in starts_between(start, end, HAVANA, M60) if s.astimezone(HAVANA).hour == 0
    ]
    assert midnight_hours == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5)]


# --- Australia/Lord_Howe: 30-minute DST shift ----------------------------------------------------


def test_lord_howe_fall_back_repeats_half_an_hour() -> None:
    # 2026-04-05 02:00 +11 (15:00Z on the 4th) becomes 01:30 +10:30.
    assert interval_bounds(utc(2026, 4, 4, 14, 45), LORD_HOWE, M30) == (
        utc(2026, 4, 4, 14, 30),
        utc(2026, 4, 4, 15),
    )
    assert interval_bounds(utc(2026, 4, 4, 15, 10), LORD_HOWE, M30) == (
        utc(2026, 4, 4, 15),
        utc(2026, 4, 4, 15, 30),
    )
    # The 01:00 hour holds 01:00-02:00 +11 and the repeated 01:30-02:00: 90 minutes.
    assert interval_bounds(utc(2026, 4, 4, 15, 10), LORD_HOWE, M60) == (
        utc(2026, 4, 4, 14),
        utc(2026, 4, 4, 15, 30),
    )
    start, end = interval_bounds(utc(2026, 4, 5, 1), LORD_HOWE, DAY)
    assert hours(end - start) == 24.5


def test_lord_howe_spring_forward_skips_half_an_hour() -> None:
    # 2026-10-04 02:00 +10:30 (15:30Z on the 3rd) becomes 02:30 +11: local 02:00 never happens,
    # so the 02:00 hour starts at the change and lasts 30 minutes.
    transition = utc(2026, 10, 3, 15, 30)
    assert interval_bounds(transition, LORD_HOWE, M60) == (transition, utc(2026, 10, 3, 16))
    assert interval_bounds(utc(2026, 10, 3, 15, 29), LORD_HOWE, M60) == (
        utc(2026, 10, 3, 14, 30),
        transition,
    )
    assert interval_bounds(transition, LORD_HOWE, M30) == (transition, utc(2026, 10, 3, 16))
    start, end = interval_bounds(transition, LORD_HOWE, DAY)
    assert hours(end - start) == 23.5


# --- API details ---------------------------------------------------------------------------------


def test_interval_values_and_minutes() -> None:
    assert [(i.value, i.minutes) for i in Interval] == [
        ("15", 15),
        ("30", 30),
        ("60", 60),
        ("day", None),
    ]
    assert Interval("day") is DAY


@pytest.mark.parametrize(
    "call",
    [
        lambda t: interval_start(t, PARIS, M15),
        lambda t: interval_end(t, PARIS, M15),
        lambda t: interval_bounds(t, PARIS, DAY),
        lambda t: IntervalCalendar(PARIS).start(t, M60),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[datetime], object]) -> None:
    with pytest.raises(ValueError, match=r"naive datetime 2026-03-29T02:30:00, .* time-zone-aware"):
        call(datetime(2026, 3, 29, 2, 30))


def test_end_of_a_mid_interval_instant_is_the_end_of_its_interval() -> None:
    assert interval_end(utc(2026, 10, 25, 1, 20), PARIS, M60) == utc(2026, 10, 25, 2)


# --- against an independent oracle ---------------------------------------------------------------

STEP = {M15: 900, M30: 1800, M60: 3600, DAY: 86400}


def oracle_starts(
    zone: ZoneInfo, first: datetime, last: datetime
) -> dict[Interval, list[datetime]]:
    """Starts in [first, last) by reading the local clock once a minute (the definition, spelt
    out): a 15/30/60-minute interval starts whenever the clock shows a multiple of its length or
    jumps over one; a day starts when the clock first reaches or jumps over its midnight."""
    found: dict[Interval, list[datetime]] = {kind: [] for kind in Interval}
    instant = first - timedelta(days=3)  # the highest wall shown so far matters for days

    def wall(at: datetime) -> int:
        local = at.astimezone(zone).replace(tzinfo=None)
        return int((local - datetime(1970, 1, 1)).total_seconds())

    before = wall(instant - timedelta(minutes=1))
    highest = before
    while instant < last:
        now = wall(instant)
        for kind in (M15, M30, M60):
            step = STEP[kind]
            jumped_over = before < now and (before // step + 1) * step < now
            if (now % step == 0 or jumped_over) and instant >= first:
                found[kind].append(instant)
        if (highest // 86400 + 1) * 86400 <= now and instant >= first:
            found[DAY].append(instant)
        highest, before = max(highest, now), now
        instant += timedelta(minutes=1)
    return found


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        ("Europe/Paris", utc(2026, 10, 25)),
        ("Europe/Paris", utc(2026, 3, 29)),
        ("America/New_York", utc(2026, 11, 1)),
        ("America/Havana", utc(2026, 3, 8)),
        ("America/Havana", utc(2026, 11, 1)),
        ("America/Santiago", utc(2026, 9, 6)),
        ("Australia/Lord_Howe", utc(2026, 4, 5)),
        ("Australia/Lord_Howe", utc(2026, 10, 4)),
        ("Asia/Kathmandu", utc(1986, 1, 1)),  # +05:30 -> +05:45
        ("America/St_Johns", utc(1995, 10, 29)),  # 00:01 back to 23:01 the day before
        ("America/St_Johns", utc(1995, 4, 2)),
        ("Pacific/Apia", utc(2011, 12, 30)),  # skipped 30 December
        ("Pacific/Kiritimati", utc(1994, 12, 31)),  # skipped 31 December
        ("Antarctica/Troll", utc(2026, 10, 25)),  # two-hour fall-back
    ],
    ids=str,
)
def test_matches_minute_by_minute_oracle_around_changes(zone: str, around: datetime) -> None:
    tz = ZoneInfo(zone)
    first, last = around - timedelta(days=2), around + timedelta(days=2)
    expected = oracle_starts(tz, first, last)
    for kind in Interval:
        assert starts_between(first, last, tz, kind) == expected[kind], kind


# --- properties ----------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "America/Havana",
    "America/Santiago",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Pacific/Apia",
    "Pacific/Chatham",
    "Antarctica/Troll",
]


def on_grid_or_at_a_change(start: datetime, zone: ZoneInfo, kind: Interval) -> bool:
    local = start.astimezone(zone)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    just_before = (start - timedelta(seconds=1)).astimezone(zone)
    return seconds % STEP[kind] == 0 or just_before.utcoffset() != local.utcoffset()


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    kind=st.sampled_from(list(Interval)),
    instant=st.datetimes(datetime(1990, 1, 1), datetime(2040, 1, 1), timezones=st.just(UTC)),
)
def test_intervals_tile_time(zone: str, kind: Interval, instant: datetime) -> None:
    tz = ZoneInfo(zone)
    start, end = interval_bounds(instant, tz, kind)
    assert start <= instant < end
    assert interval_start(end, tz, kind) == end  # the next interval begins where this one ends
    assert interval_start(end - timedelta(microseconds=1), tz, kind) == start
    assert interval_bounds(start, tz, kind) == (start, end)
    assert on_grid_or_at_a_change(start, tz, kind)
    assert IntervalCalendar(tz).start(instant, kind) == start


@pytest.mark.parametrize("zone", ZONES)
def test_calendar_matches_exact_path_over_a_stream(zone: str) -> None:
    # A reused calendar sees events mostly in time order with some late ones, across a year
    # with its changes; its caches must never change an answer.
    tz = ZoneInfo(zone)
    calendar = IntervalCalendar(tz)
    rng = random.Random(zone)
    year = rng.randrange(1990, 2040)
    instant = utc(year, 1, 1)
    while instant.year == year:
        event = instant - timedelta(seconds=rng.choice([0, 0, 0, 30, 600, 90000]))
        for kind in Interval:
            assert calendar.start(event, kind) == interval_start(event, tz, kind), (event, kind)
        instant += timedelta(seconds=rng.randrange(1, 4 * 3600))


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        ("Europe/Paris", utc(2026, 3, 29)),
        ("Europe/Paris", utc(2026, 10, 25)),
        ("America/Havana", utc(2026, 3, 8)),
        ("America/Havana", utc(2026, 11, 1)),
        ("Australia/Lord_Howe", utc(2026, 10, 4)),
    ],
    ids=str,
)
def test_calendar_matches_exact_path_every_five_minutes_across_a_change(
    zone: str, around: datetime
) -> None:
    tz = ZoneInfo(zone)
    calendar = IntervalCalendar(tz)
    event = around - timedelta(days=1, seconds=1)
    while event < around + timedelta(days=2):
        for kind in Interval:
            assert calendar.start(event, kind) == interval_start(event, tz, kind), (event, kind)
        event += timedelta(minutes=5)
