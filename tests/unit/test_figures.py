"""Hand-computed figures for every service-level formula, roll-ups and satisfaction."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from processors.figures import FigureSums, contribution
from schemas import SlFormula, TenantSettings, validate_event

_ids = count()


def event(event_type: str, **fields: Any) -> Any:
    base: dict[str, Any] = {
        "event_id": f"e{next(_ids)}",
        "event_type": event_type,
        "tenant_id": "acme",
        "occurred_at": "2026-11-22T09:00:00Z",
    }
    if event_type.startswith("contact."):
        base |= {"contact_id": "c", "channel": "voice", "queue_id": "billing", "agent_id": "a"}
    return validate_event(base | fields)


def total(events: list[Any], tenant: TenantSettings) -> FigureSums:
    sums = FigureSums()
    for e in events:
        sums += contribution(e, tenant)
    return sums


# Voice, T = 20 s, S = 5 s. Answered waits 10, 20 (= T, inside), 30; abandoned waits
# 3 (short, ≤ S and ≤ T), 5 (= S: short), 15 (≤ T, not short), 40 (> T).
# A = 3, A≤T = 2, Ab = 4, ShortAb = 2, Ab≤T = 3.
WAITS_ANSWERED = (10, 20, 30)
WAITS_ABANDONED = (3, 5, 15, 40)


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        (SlFormula.answered_only, 100 * 2 / 3),  # A≤T / A
        (SlFormula.all_offered, 100 * 2 / 7),  # A≤T / (A + Ab)
        (SlFormula.exclude_short_abandons, 100 * 2 / 5),  # A≤T / (A + Ab − ShortAb) = 2/(7−2)
        (SlFormula.abandons_in_threshold_met, 100 * 5 / 7),  # (A≤T + Ab≤T) / (A + Ab) = (2+3)/7
        (SlFormula.exclude_abandons_in_threshold, 100 * 2 / 4),  # A≤T / (A + Ab − Ab≤T) = 2/(7−3)
    ],
)
def test_service_level_formulas(formula: SlFormula, expected: float) -> None:
    tenant = TenantSettings(tenant_id="acme", sl_formula=formula)
    events = [event("contact.answered", wait_seconds=w) for w in WAITS_ANSWERED]
    events += [event("contact.abandoned", wait_seconds=w) for w in WAITS_ABANDONED]
    sums = total(events, tenant)
    figures = sums.figures()
    assert figures["service_level_pct"] == pytest.approx(expected, rel=1e-12)
    assert sums.counts() | {} == {
        "offered": 7,
        "answered": 3,
        "abandoned": 4,
        "short_abandoned": 2,
        "answered_in_sl": 2,
        "abandoned_in_sl": 3,
        "ended": 0,
        "csat_responses": 0,
        "nps_responses": 0,
        "ces_responses": 0,
        "servqual_responses": 0,
    }
    # abandon rate = (Ab − ShortAb) / (A + Ab − ShortAb) = 2 / 5, whatever the SL formula
    assert figures["abandon_rate_pct"] == pytest.approx(40.0)
    assert figures["asa_seconds"] == pytest.approx(20.0)  # (10 + 20 + 30) / 3
    assert figures["max_wait_seconds"] == 40.0  # over answered and abandoned


def test_roll_up_adds_sums_of_parts_judged_by_their_own_settings() -> None:
    # billing: answered_only, T = 20; sales: all_offered, T = 60 (queue override)
    tenant = TenantSettings(
        tenant_id="acme",
        queues={
            "billing": {"sl_formula": "answered_only"},
            "sales": {"sl_formula": "all_offered", "sl_threshold_seconds": 60},
        },
    )
    billing = [event("contact.answered", wait_seconds=w) for w in (10, 30)]  # 1/2
    sales = [
        event("contact.answered", queue_id="sales", wait_seconds=45),  # inside T = 60
        event("contact.abandoned", queue_id="sales", wait_seconds=30),
    ]  # all_offered: 1/2
    assert total(billing, tenant).figures()["service_level_pct"] == 50.0
    assert total(sales, tenant).figures()["service_level_pct"] == 50.0
    # channel roll-up: (1 + 1) / (2 + 2) = 50 %, not the mean of anything else
    both = total(billing + sales, tenant)
    assert (both.sl_num, both.sl_den) == (2, 4)
    # a lopsided pair shows the difference from averaging percentages: 1/1 and 0/3 → 25 %
    lopsided = total(
        [event("contact.answered", wait_seconds=1)]
        + [event("contact.answered", queue_id="sales", wait_seconds=90) for _ in range(3)],
        tenant,
    )
    assert lopsided.figures()["service_level_pct"] == 25.0


def test_short_abandon_threshold_zero_counts_only_zero_waits() -> None:
    tenant = TenantSettings(tenant_id="acme")  # chat: S = 0, T = 60
    sums = total(
        [
            event("contact.abandoned", channel="chat", wait_seconds=0),
            event("contact.abandoned", channel="chat", wait_seconds=0.5),
            event("contact.answered", channel="chat", wait_seconds=59),
        ],
        tenant,
    )
    assert sums.short_abandoned == 1
    assert sums.figures()["abandon_rate_pct"] == pytest.approx(50.0)  # 1 / (1 + 2 − 1)
    assert sums.figures()["service_level_pct"] == pytest.approx(50.0)  # 1 / (3 − 1)


def test_handle_time_and_first_contact_resolution() -> None:
    tenant = TenantSettings(tenant_id="acme")
    sums = total(
        [
            event(
                "contact.ended", talk_seconds=100, hold_seconds=20, acw_seconds=30, resolved=True
            ),
            event("contact.ended", talk_seconds=200, resolved=False),
            event("contact.ended", talk_seconds=50),  # resolved absent: not in FCR's denominator
        ],
        tenant,
    )
    f = sums.figures()
    assert f["aht_seconds"] == pytest.approx((150 + 200 + 50) / 3)
    assert f["fcr_pct"] == pytest.approx(50.0)
    assert f["service_level_pct"] is None  # nothing offered: null, not 0


def test_satisfaction_figures() -> None:
    tenant = TenantSettings(tenant_id="acme")
    surveys = [
        event("survey.response", csat=5, nps=10, ces=7),
        event("survey.response", csat=4, nps=9),
        event("survey.response", csat=3, nps=7, ces=2),
        event("survey.response", csat=1, nps=0),
        event(
            "survey.response",
            servqual={
                "empathy": {"expected": 6, "perceived": 4},
                "reliability": {"expected": 5, "perceived": 6},
            },
        ),
        event("survey.response", servqual={"empathy": {"expected": 7, "perceived": 6}}),
    ]
    f = total(surveys, tenant).figures()
    assert f["csat_pct"] == 50.0  # top-2-box: 5 and 4 of four responses
    assert f["csat_avg"] == pytest.approx(13 / 4)
    assert f["nps"] == pytest.approx(100 * 2 / 4 - 100 * 1 / 4)  # promoters 10, 9; detractor 0
    assert f["ces_avg"] == pytest.approx(4.5)
    assert f["servqual_gap_empathy"] == pytest.approx((-2 + -1) / 2)
    assert f["servqual_gap_reliability"] == pytest.approx(1.0)
    assert f["servqual_gap_tangibles"] is None


def test_merge_is_associative_and_keeps_the_max_wait() -> None:
    a = FigureSums(answered=1, max_wait=10.0, wait_sum_answered=10.0)
    b = FigureSums(abandoned=2, max_wait=30.0)
    c = FigureSums(answered=1, max_wait=None, wait_sum_answered=5.0)
    assert (a + b) + c == a + (b + c)
    assert (a + b + c).max_wait == 30.0
    assert FigureSums().is_empty() and not a.is_empty()
