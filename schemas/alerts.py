"""Alert rules, schedules, webhooks and alert events (the supervisor-facing contract).

Rules live in a tenant's settings (the tenants file, or a ``cqm.config`` update). A tenant with
no ``rules`` gets :data:`DEFAULT_RULES`.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

# Live figures a rule may watch: the contact and satisfaction figures of METRICS.md, plus the
# live-only ones. The sample size that must reach ``min_sample`` is given for each.
FIGURE_SAMPLES: dict[str, str] = {
    "service_level_pct": "sl_den",
    "abandon_rate_pct": "abandon_den",
    "asa_seconds": "answered",
    "max_wait_seconds": "offered",
    "aht_seconds": "ended",
    "fcr_pct": "fcr_known",
    "csat_pct": "csat_responses",
    "csat_avg": "csat_responses",
    "nps": "nps_responses",
    "ces_avg": "ces_responses",
    "offered": "offered",
    "in_queue_now": "in_queue_now",
    "longest_waiting_now_seconds": "in_queue_now",
    "agents_available_now": "agents_staffed_now",
    "agents_staffed_now": "agents_staffed_now",
    "waiting_with_no_agent_available": "in_queue_now",
}
# Figures an anomaly detector can watch, per 15-minute interval (the interval figures).
ANOMALY_FIGURES: tuple[str, ...] = tuple(f for f in FIGURE_SAMPLES if not f.endswith("_now"))
DEFAULT_ANOMALY_FIGURES = ("offered", "asa_seconds", "aht_seconds", "abandon_rate_pct", "csat_pct")
# Anomaly scores are figures too: ``anomaly_score`` (the highest of a scope's series) and
# ``anomaly_<figure>``; their sample is how many intervals the detector has learned from.
FIGURE_SAMPLES.update({"anomaly_score": "anomaly_points"})
FIGURE_SAMPLES.update({f"anomaly_{f}": "anomaly_points" for f in ANOMALY_FIGURES})
# What "the tenant's target" means for each figure that has one (a setting of METRICS.md).
TARGET_SETTINGS: dict[str, str] = {
    "service_level_pct": "sl_target_pct",
    "abandon_rate_pct": "abandon_target_pct",
    "asa_seconds": "asa_target_seconds",
    "csat_pct": "csat_target_pct",
}


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Level(StrEnum):
    """Which scopes a rule watches: every queue, every channel, the tenant, or every agent."""

    queue = "queue"
    channel = "channel"
    tenant = "tenant"
    agent = "agent"


def _threshold(value: Any) -> float | str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (value.strip() == "target" or _MULTIPLE_OF_T.match(value)):
        return value.strip()
    raise ValueError(
        f"{value!r} is not a threshold: give a number, 'target' (the tenant's target for the "
        "figure) or a multiple of the service-level threshold such as '2*T'"
    )


_MULTIPLE_OF_T = re.compile(r"^\s*\d+(\.\d+)?\*T\s*$")
Threshold = Annotated[float | str, BeforeValidator(_threshold)]

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> float:
    """Seconds from 90, "90s", "2m", "1h30m".

    >>> parse_duration("1h30m"), parse_duration(45), parse_duration("2m")
    (5400.0, 45.0, 120.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str) and value and (m := _DURATION.match(value.strip())):
        hours, minutes, seconds = (int(g or 0) for g in m.groups())
        return float(hours * 3600 + minutes * 60 + seconds)
    raise ValueError(f"{value!r} is not a duration: use seconds or e.g. '90s', '2m', '1h30m'")


Duration = Annotated[float, Field(ge=0)]


class Rule(BaseModel):
    """A breach rule on one live figure.

    >>> r = Rule(name="sl", figure="service_level_pct", op="below", threshold="target",
    ...          clear_threshold=None, min_sample=10, **{"for": "1m"})
    >>> r.for_seconds, r.clear_for_seconds
    (60.0, 60.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    figure: str
    op: Literal["below", "above"]
    threshold: Threshold
    # the figure must come back past this (default: the threshold) to clear: hysteresis
    clear_threshold: Threshold | None = None
    level: Level = Level.queue
    channel: str | None = None  # only this channel (None: every channel)
    queue_id: str | None = None  # only this queue (None: every queue)
    agent_id: Annotated[str, Field(min_length=1)] | None = None  # only this agent (level agent)
    min_sample: Annotated[int, Field(ge=0)] = 10
    for_seconds: Duration = Field(default=60.0, alias="for")
    clear_for_seconds: Duration | None = Field(default=None, alias="clear_for")
    severity: Severity = Severity.warning
    business_hours_only: bool = True
    enabled: bool = True

    @field_validator("for_seconds", "clear_for_seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("figure")
    @classmethod
    def _known_figure(cls, value: str) -> str:
        if value not in FIGURE_SAMPLES:
            raise ValueError(
                f"unknown figure {value!r}; rules can watch: {', '.join(FIGURE_SAMPLES)}"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        for name in ("threshold", "clear_threshold"):
            value = getattr(self, name)
            if value == "target" and self.figure not in TARGET_SETTINGS:
                raise ValueError(
                    f"{name} 'target': {self.figure} has no target setting; give a number "
                    f"(figures with targets: {', '.join(TARGET_SETTINGS)})"
                )
        if self.agent_id is not None and self.level is not Level.agent:
            raise ValueError(
                f"agent_id {self.agent_id!r} only applies to agent-level rules: set level "
                f"'agent' or remove agent_id (level is {self.level.value!r})"
            )
        if self.level is Level.agent:
            for name in ("channel", "queue_id"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"an agent-level rule cannot filter on {name}: remove {name} (use "
                        "agent_id to watch one agent) or use level 'queue'/'channel'"
                    )
        if self.clear_for_seconds is None:
            object.__setattr__(self, "clear_for_seconds", self.for_seconds)
        if isinstance(self.threshold, float | int) and isinstance(
            self.clear_threshold, float | int
        ):
            wrong_side = (
                self.clear_threshold < self.threshold
                if self.op == "below"
                else self.clear_threshold > self.threshold
            )
            if wrong_side:
                side = "at or above" if self.op == "below" else "at or below"
                raise ValueError(
                    f"clear_threshold {self.clear_threshold} must be {side} threshold "
                    f"{self.threshold} for an '{self.op}' rule (hysteresis)"
                )
        return self


# Sensible defaults for a tenant with no rules (issue: supervisor alerting, item 3).
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(name="service-level-below-target", figure="service_level_pct", op="below",
         threshold="target", min_sample=10, **{"for": 60, "clear_for": 120}),
    Rule(name="abandon-rate-above-target", figure="abandon_rate_pct", op="above",
         threshold="target", min_sample=10, **{"for": 60, "clear_for": 120}),
    Rule(name="asa-above-target", figure="asa_seconds", op="above", threshold="target",
         min_sample=10, **{"for": 60, "clear_for": 120}),
    Rule(name="csat-below-target", figure="csat_pct", op="below", threshold="target",
         min_sample=10, **{"for": 300, "clear_for": 300}),
    # Everyone busy while someone waits is normal for seconds in a busy queue: these two mean a
    # sustained problem (python -m benchmarks.alert_noise: held 15 s they fired 240 times in
    # 10 simulated hours over 10 queues, held 60 s / 120 s 74 times).
    Rule(name="longest-wait-above-2T", figure="longest_waiting_now_seconds", op="above",
         threshold="2*T", min_sample=1, **{"for": 60, "clear_for": 60}),
    Rule(name="waiting-with-no-agent-available", figure="waiting_with_no_agent_available",
         op="above", threshold=0, min_sample=1, severity=Severity.critical,
         **{"for": 120, "clear_for": 60}),
)  # fmt: skip


class AnomalySettings(BaseModel):
    """A tenant's anomaly alerting: which series are watched, and how unusual is worth a page.

    One alert per queue (rule ``unusual-figures`` on ``anomaly_score``), fired when an interval
    scores at or above ``sensitivity`` and resolved when one scores below ``clear``. A rule of
    the tenant's own on an ``anomaly_*`` figure replaces it.

    >>> AnomalySettings().rule().threshold, AnomalySettings(sensitivity=None).rule()
    (0.98, None)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # score (0-1) at which an interval raises an alert; None: scores are kept, nobody is paged
    sensitivity: Annotated[float, Field(gt=0, le=1)] | None = 0.98
    clear: Annotated[float, Field(ge=0, lt=1)] = 0.5
    figures: tuple[str, ...] = DEFAULT_ANOMALY_FIGURES
    # a rate figure (ASA, AHT, abandon rate, CSAT …) is judged only on intervals with at least
    # this many contacts (responses for CSAT): a rate over two calls at night is noise
    min_sample: Annotated[int, Field(ge=1)] = 10
    level: Level = Level.queue
    severity: Severity = Severity.warning
    business_hours_only: bool = True

    @field_validator("figures")
    @classmethod
    def _known_figures(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in ANOMALY_FIGURES]
        if unknown:
            raise ValueError(
                f"cannot watch {', '.join(map(repr, unknown))} for anomalies; "
                f"figures per interval: {', '.join(ANOMALY_FIGURES)}"
            )
        return tuple(dict.fromkeys(value))

    def rule(self) -> Rule | None:
        """The alert rule these settings stand for (None when switched off)."""
        if self.sensitivity is None:
            return None
        return Rule(
            name="unusual-figures", figure="anomaly_score", op="above",
            threshold=self.sensitivity, clear_threshold=min(self.clear, self.sensitivity),
            level=self.level, min_sample=0, severity=self.severity,
            business_hours_only=self.business_hours_only, **{"for": 0, "clear_for": 0},
        )  # fmt: skip


class Weekday(StrEnum):
    mon = "mon"
    tue = "tue"
    wed = "wed"
    thu = "thu"
    fri = "fri"
    sat = "sat"
    sun = "sun"


WEEKDAYS = tuple(Weekday)
_SPAN = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


def parse_span(text: str) -> tuple[time, time]:
    """ "08:00-18:00" → (08:00, 18:00); "24:00" means end of day."""
    m = _SPAN.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a time span like '08:00-18:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"{text!r} is not a time span like '08:00-18:00'")
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    if end <= time(h1, m1):
        raise ValueError(f"{text!r} ends before it starts (split a span across midnight in two)")
    return time(h1, m1), end


class MuteWindow(BaseModel):
    """Planned quiet time: weekly (``days`` + ``hours``) or one-off (``start``/``end``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "mute"
    days: list[Weekday] | None = None
    hours: str | None = None  # "12:00-13:00", local time
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> MuteWindow:
        weekly = self.hours is not None
        once = self.start is not None and self.end is not None
        if weekly == once:
            raise ValueError(
                "a mute window needs either hours (and optional days) or start and end"
            )
        if self.hours is not None:
            parse_span(self.hours)
        if once and self.end <= self.start:  # type: ignore[operator]
            raise ValueError("a mute window must end after it starts")
        return self


class WebhookFormat(StrEnum):
    generic = "generic"
    slack = "slack"
    teams = "teams"


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(pattern=r"^https?://")]
    format: WebhookFormat = WebhookFormat.generic
    min_severity: Severity = Severity.info
    name: str | None = None


class AlertState(StrEnum):
    pending = "pending"
    firing = "firing"
    resolved = "resolved"


class AlertEvent(BaseModel):
    """One lifecycle transition of one alert: what ``cqm.alerts``, ``alerts`` and webhooks get."""

    model_config = ConfigDict(frozen=True)

    alert_key: str  # stable for (tenant, rule, scope): deduplicate on it
    alert_id: str  # one incident: alert_key + when it started
    tenant_id: str
    rule: str
    state: AlertState
    severity: Severity
    figure: str
    value: float | None
    threshold: float
    clear_threshold: float
    op: Literal["below", "above"]
    scope: Level
    channel: str
    queue_id: str
    agent_id: str = ""  # set at agent level only
    window_seconds: float
    sample: int
    started_at: datetime  # when the breach began (pending)
    at: datetime  # when this transition happened (event time of the evaluation)
    message: str  # one line a person can read on a phone
    context: dict[str, Any] = Field(default_factory=dict)  # waiting, longest wait, agents …
    link: str | None = None
    was_firing: bool = True  # on resolved: False when it never got past pending
