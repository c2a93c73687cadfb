"""Contact and satisfaction figures (shared/METRICS.md) as mergeable sums.

Every figure is a ratio of sums, so one small record of counts and sums serves every scope and
window: an event becomes a :class:`FigureSums` of its own (:func:`contribution`, judged by its
own channel's and queue's settings), windows and roll-ups add them up (``+=``), and
:meth:`FigureSums.figures` turns the totals into the published figures. Percentages are never
averaged, and nothing is rounded here.

>>> from datetime import UTC, datetime
>>> from schemas import TenantSettings, validate_event
>>> acme = TenantSettings(tenant_id="acme")
>>> def answered(wait):
...     return validate_event({"event_id": f"e{wait}", "event_type": "contact.answered",
...         "tenant_id": "acme", "occurred_at": "2026-11-22T09:00:00Z", "contact_id": "c",
...         "channel": "voice", "queue_id": "billing", "agent_id": "a", "wait_seconds": wait})
>>> total = FigureSums()
>>> for wait in (5, 15, 25, 40):
...     total += contribution(answered(wait), acme)
>>> f = total.figures()
>>> f["service_level_pct"], f["asa_seconds"], f["max_wait_seconds"]
(50.0, 21.25, 40.0)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from schemas.events import (
    SERVQUAL_DIMENSIONS,
    ContactAbandoned,
    ContactAnswered,
    ContactEnded,
    Event,
    SurveyResponse,
)
from schemas.tenants import ResolvedSettings, SlFormula, TenantSettings

# Event types that contribute to interval figures; the others feed live or other views only.
CONTRIBUTING_TYPES = ("contact.answered", "contact.abandoned", "contact.ended", "survey.response")


@dataclass(slots=True)
class FigureSums:
    """Counts and sums for one scope and window. Every field adds, except ``max_wait``."""

    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0  # abandoned with wait <= S
    answered_in_sl: int = 0  # answered with wait <= T
    abandoned_in_sl: int = 0  # abandoned with wait <= T
    sl_num: int = 0  # service-level numerator and denominator, per each contact's sl_formula
    sl_den: int = 0
    abandon_num: int = 0  # Ab - ShortAb
    abandon_den: int = 0  # A + Ab - ShortAb
    wait_sum_answered: float = 0.0
    max_wait: float | None = None
    ended: int = 0
    handle_sum: float = 0.0  # talk + hold + acw
    fcr_resolved: int = 0
    fcr_known: int = 0
    csat_responses: int = 0
    csat_top2: int = 0
    csat_sum: int = 0
    nps_responses: int = 0
    nps_promoters: int = 0
    nps_detractors: int = 0
    ces_responses: int = 0
    ces_sum: int = 0
    servqual_responses: int = 0
    sq_reliability_n: int = 0
    sq_reliability_gap_sum: int = 0
    sq_responsiveness_n: int = 0
    sq_responsiveness_gap_sum: int = 0
    sq_assurance_n: int = 0
    sq_assurance_gap_sum: int = 0
    sq_empathy_n: int = 0
    sq_empathy_gap_sum: int = 0
    sq_tangibles_n: int = 0
    sq_tangibles_gap_sum: int = 0

    def __iadd__(self, other: FigureSums) -> FigureSums:
        _add(self, other)  # generated below: straight-line code, 6x faster than a loop
        if other.max_wait is not None and (self.max_wait is None or other.max_wait > self.max_wait):
            self.max_wait = other.max_wait
        return self

    def __isub__(self, other: FigureSums) -> FigureSums:
        """Take a part back out (a slot leaving a trailing window). ``max_wait`` cannot be
        taken out of a maximum: the caller recomputes it from what remains."""
        _subtract(self, other)
        return self

    def __add__(self, other: FigureSums) -> FigureSums:
        total = FigureSums()
        total += self
        total += other
        return total

    @property
    def offered(self) -> int:
        return self.answered + self.abandoned

    def is_empty(self) -> bool:
        return self == _EMPTY

    def figures(self) -> dict[str, float | None]:
        """The published figures; None where the denominator is 0.

        >>> FigureSums(answered=3, abandoned=1, abandon_num=1, abandon_den=4).figures()[
        ...     "abandon_rate_pct"]
        25.0
        >>> FigureSums().figures()["service_level_pct"] is None
        True
        """
        result: dict[str, float | None] = {
            "service_level_pct": _pct(self.sl_num, self.sl_den),
            "abandon_rate_pct": _pct(self.abandon_num, self.abandon_den),
            "asa_seconds": _ratio(self.wait_sum_answered, self.answered),
            "max_wait_seconds": self.max_wait,
            "aht_seconds": _ratio(self.handle_sum, self.ended),
            "fcr_pct": _pct(self.fcr_resolved, self.fcr_known),
            "csat_pct": _pct(self.csat_top2, self.csat_responses),
            "csat_avg": _ratio(self.csat_sum, self.csat_responses),
            "nps": (
                None
                if self.nps_responses == 0
                else 100 * self.nps_promoters / self.nps_responses
                - 100 * self.nps_detractors / self.nps_responses
            ),
            "ces_avg": _ratio(self.ces_sum, self.ces_responses),
        }
        for dim in SERVQUAL_DIMENSIONS:
            result[f"servqual_gap_{dim}"] = _ratio(
                getattr(self, f"sq_{dim}_gap_sum"), getattr(self, f"sq_{dim}_n")
            )
        return result

    def samples(self) -> dict[str, int]:
        """The sample size behind each figure (the names FIGURE_SAMPLES gives)."""
        return {
            "sl_den": self.sl_den, "abandon_den": self.abandon_den, "answered": self.answered,
            "offered": self.offered, "ended": self.ended, "fcr_known": self.fcr_known,
            "csat_responses": self.csat_responses, "nps_responses": self.nps_responses,
            "ces_responses": self.ces_responses,
        }  # fmt: skip

    def counts(self) -> dict[str, int]:
        """The counts published beside the figures (METRICS.md names)."""
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "answered_in_sl": self.answered_in_sl,
            "abandoned_in_sl": self.abandoned_in_sl,
            "ended": self.ended,
            "csat_responses": self.csat_responses,
            "nps_responses": self.nps_responses,
            "ces_responses": self.ces_responses,
            "servqual_responses": self.servqual_responses,
        }

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SUM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(FigureSums))
_ADDITIVE = tuple(name for name in SUM_FIELDS if name != "max_wait")


def _generate(op: str) -> Any:
    body = "\n".join(f"    a.{name} {op}= b.{name}" for name in _ADDITIVE)
    namespace: dict[str, Any] = {}
    exec(f"def fn(a, b):\n{body}\n", namespace)  # the way dataclasses builds its methods
    return namespace["fn"]


_add = _generate("+")
_subtract = _generate("-")
_EMPTY = FigureSums()


def contribution(event: Event, tenant: TenantSettings) -> FigureSums:
    """What one event adds to the figures of every window and scope it falls in.

    >>> from schemas import validate_event
    >>> ab = validate_event({"event_id": "e", "event_type": "contact.abandoned",
    ...     "tenant_id": "acme", "occurred_at": "2026-11-22T09:00:00Z", "contact_id": "c",
    ...     "channel": "voice", "queue_id": "q", "wait_seconds": 4})
    >>> s = contribution(ab, TenantSettings(tenant_id="acme"))  # voice: S = 5 s
    >>> (s.abandoned, s.short_abandoned, s.sl_den, s.abandon_den)
    (1, 1, 0, 0)
    """
    if isinstance(event, ContactAnswered | ContactAbandoned):
        return _offered(event, tenant.resolve(event.channel, event.queue_id))
    if isinstance(event, ContactEnded):
        return FigureSums(
            ended=1,
            handle_sum=event.talk_seconds + event.hold_seconds + event.acw_seconds,
            fcr_resolved=int(event.resolved is True),
            fcr_known=int(event.resolved is not None),
        )
    if isinstance(event, SurveyResponse):
        return _survey(event)
    return FigureSums()


def _offered(event: ContactAnswered | ContactAbandoned, s: ResolvedSettings) -> FigureSums:
    wait = event.wait_seconds
    in_sl = wait <= s.sl_threshold_seconds
    if isinstance(event, ContactAnswered):
        return FigureSums(
            answered=1,
            answered_in_sl=int(in_sl),
            sl_num=int(in_sl),
            sl_den=1,
            abandon_den=1,
            wait_sum_answered=wait,
            max_wait=wait,
        )
    short = wait <= s.short_abandon_seconds
    formula = s.sl_formula
    sl_num = int(formula is SlFormula.abandons_in_threshold_met and in_sl)
    if formula is SlFormula.answered_only:
        sl_den = 0
    elif formula is SlFormula.exclude_short_abandons:
        sl_den = int(not short)
    elif formula is SlFormula.exclude_abandons_in_threshold:
        sl_den = int(not in_sl)
    else:  # all_offered, abandons_in_threshold_met
        sl_den = 1
    return FigureSums(
        abandoned=1,
        short_abandoned=int(short),
        abandoned_in_sl=int(in_sl),
        sl_num=sl_num,
        sl_den=sl_den,
        abandon_num=int(not short),
        abandon_den=int(not short),
        max_wait=wait,
    )


def _survey(event: SurveyResponse) -> FigureSums:
    sums = FigureSums()
    if event.csat is not None:
        sums.csat_responses, sums.csat_sum, sums.csat_top2 = 1, event.csat, int(event.csat >= 4)
    if event.nps is not None:
        sums.nps_responses = 1
        sums.nps_promoters, sums.nps_detractors = int(event.nps >= 9), int(event.nps <= 6)
    if event.ces is not None:
        sums.ces_responses, sums.ces_sum = 1, event.ces
    if event.servqual:
        sums.servqual_responses = 1
        for dim, score in event.servqual.items():
            setattr(sums, f"sq_{dim}_n", 1)
            setattr(sums, f"sq_{dim}_gap_sum", score.perceived - score.expected)
    return sums


def _ratio(num: float, den: int) -> float | None:
    return None if den == 0 else num / den


def _pct(num: float, den: int) -> float | None:
    return None if den == 0 else 100 * num / den


FIGURE_NAMES: tuple[str, ...] = tuple(FigureSums().figures())
COUNT_NAMES: tuple[str, ...] = tuple(FigureSums().counts())
