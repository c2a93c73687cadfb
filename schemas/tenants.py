"""Per-tenant settings (shared/METRICS.md), overridable per channel and per queue.

Resolution order for a contact on (channel, queue): the queue's override, then the channel's,
then the tenant's own value, then the built-in default for that channel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.alerts import (
    DEFAULT_RULES,
    AnomalySettings,
    MuteWindow,
    Rule,
    Webhook,
    Weekday,
    parse_span,
)
from schemas.events import TENANT_PATTERN, Channel


class SlFormula(StrEnum):
    answered_only = "answered_only"
    all_offered = "all_offered"
    exclude_short_abandons = "exclude_short_abandons"
    abandons_in_threshold_met = "abandons_in_threshold_met"
    exclude_abandons_in_threshold = "exclude_abandons_in_threshold"


DEFAULT_SL_THRESHOLD_SECONDS: dict[Channel, float] = {
    Channel.voice: 20.0,
    Channel.chat: 60.0,
    Channel.messaging: 300.0,
    Channel.social: 3600.0,
    Channel.email: 86400.0,
}
DEFAULT_SHORT_ABANDON_SECONDS: dict[Channel, float] = {
    Channel.voice: 5.0,
    Channel.chat: 0.0,
    Channel.messaging: 0.0,
    Channel.social: 0.0,
    Channel.email: 0.0,
}

NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Pct = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class FigureSettings(BaseModel):
    """The overridable settings; None means "inherit from the level above"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sl_threshold_seconds: NonNegative | None = None
    sl_target_pct: Pct | None = None
    short_abandon_seconds: NonNegative | None = None
    sl_formula: SlFormula | None = None
    csat_target_pct: Pct | None = None
    asa_target_seconds: NonNegative | None = None
    abandon_target_pct: Pct | None = None
    qa_target: Pct | None = None
    max_occupancy_pct: Pct | None = None


@dataclass(frozen=True, slots=True)
class ResolvedSettings:
    """Every setting with a value, for one (tenant, channel, queue)."""

    sl_threshold_seconds: float
    sl_target_pct: float
    short_abandon_seconds: float
    sl_formula: SlFormula
    csat_target_pct: float
    asa_target_seconds: float
    abandon_target_pct: float
    qa_target: float
    max_occupancy_pct: float


class TenantSettings(FigureSettings):
    tenant_id: Annotated[str, Field(pattern=TENANT_PATTERN)]
    timezone: str = "UTC"
    allowed_lateness_seconds: NonNegative = 600
    channels: dict[Channel, FigureSettings] = Field(default_factory=dict)
    queues: dict[str, FigureSettings] = Field(default_factory=dict)
    # alerting: None = the default rules; business hours None = always open (local time)
    rules: list[Rule] | None = None
    business_hours: dict[Weekday, list[str]] | None = None
    mute: list[MuteWindow] = Field(default_factory=list)
    webhooks: list[Webhook] = Field(default_factory=list)
    anomaly: AnomalySettings = Field(default_factory=AnomalySettings)

    @field_validator("business_hours")
    @classmethod
    def _spans(cls, value: dict[Weekday, list[str]] | None) -> dict[Weekday, list[str]] | None:
        for spans in (value or {}).values():
            for span in spans:
                parse_span(span)
        return value

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, value: list[Rule] | None) -> list[Rule] | None:
        names = [rule.name for rule in value or []]
        if len(names) != len(set(names)):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"rule names must be unique; repeated: {repeated}")
        return value

    @cached_property
    def active_rules(self) -> tuple[Rule, ...]:
        """The rules in force: the tenant's (or the defaults), plus the anomaly rule unless a
        rule of the tenant's own watches an anomaly score."""
        rules = DEFAULT_RULES if self.rules is None else tuple(r for r in self.rules if r.enabled)
        anomaly = self.anomaly.rule()
        own = any(r.figure.startswith("anomaly_") for r in self.rules or ())
        return rules if anomaly is None or own else (*rules, anomaly)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris'"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def resolve(self, channel: Channel, queue_id: str | None = None) -> ResolvedSettings:
        """The settings in force for a contact on ``channel`` and ``queue_id``.

        >>> t = TenantSettings(tenant_id="acme", sl_target_pct=90,
        ...     channels={"chat": {"sl_threshold_seconds": 45}},
        ...     queues={"vip": {"sl_threshold_seconds": 10}})
        >>> t.resolve(Channel.voice).sl_threshold_seconds, t.resolve(Channel.chat).sl_target_pct
        (20.0, 90.0)
        >>> t.resolve(Channel.chat).sl_threshold_seconds
        45.0
        >>> t.resolve(Channel.chat, "vip").sl_threshold_seconds  # the queue's override wins
        10.0
        >>> t.resolve(Channel.voice).asa_target_seconds  # defaults to the threshold T
        20.0
        """
        layers = [self.queues.get(queue_id or ""), self.channels.get(channel), self]

        def pick(name: str, default: Any) -> Any:
            for layer in layers:
                value = getattr(layer, name, None) if layer is not None else None
                if value is not None:
                    return value
            return default

        threshold = pick("sl_threshold_seconds", DEFAULT_SL_THRESHOLD_SECONDS[channel])
        return ResolvedSettings(
            sl_threshold_seconds=threshold,
            sl_target_pct=pick("sl_target_pct", 80.0),
            short_abandon_seconds=pick(
                "short_abandon_seconds", DEFAULT_SHORT_ABANDON_SECONDS[channel]
            ),
            sl_formula=pick("sl_formula", SlFormula.exclude_short_abandons),
            csat_target_pct=pick("csat_target_pct", 85.0),
            asa_target_seconds=pick("asa_target_seconds", threshold),
            abandon_target_pct=pick("abandon_target_pct", 5.0),
            qa_target=pick("qa_target", 80.0),
            max_occupancy_pct=pick("max_occupancy_pct", 85.0),
        )


class InvalidConfig(ValueError):
    """A tenant settings update that cannot be applied; the message says what to fix."""


def parse_tenant_config(value: bytes | None, key: bytes | None = None) -> TenantSettings:
    """Validate one ``cqm.config`` message (key = tenant_id, value = its settings as JSON).

    >>> parse_tenant_config(b'{"tenant_id": "acme", "rules": [{"name": "sl", '
    ...     b'"figure": "service_level_pct", "op": "below", "threshold": "soon"}]}', b"acme")
    Traceback (most recent call last):
    ...
    schemas.tenants.InvalidConfig: tenant acme: rule 'sl' (rules[0]) threshold: ...
    """
    try:
        data = json.loads(value or b"")
    except ValueError as exc:
        raise InvalidConfig(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidConfig("tenant settings must be a JSON object")
    tenant = str(data.get("tenant_id", "?"))
    if key is not None and key.decode("utf-8", "replace") != tenant:
        raise InvalidConfig(
            f"the message key {key.decode('utf-8', 'replace')!r} is not the tenant_id "
            f"{tenant!r} of the settings it carries"
        )
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfig(
            f"tenant {tenant}: " + "; ".join(_where(e, data) for e in exc.errors())
        ) from None


def explain_tenants_file(exc: ValidationError, data: Any) -> str:
    """One line per problem in a tenants file, naming the tenant and rule."""
    lines = []
    entries = data.get("tenants") if isinstance(data, dict) else None
    for error in exc.errors():
        loc = list(error["loc"])
        if len(loc) >= 2 and loc[0] == "tenants" and isinstance(loc[1], int) and entries:
            entry = entries[loc[1]] if loc[1] < len(entries) else {}
            entry = entry if isinstance(entry, dict) else {}
            where = _where({**error, "loc": tuple(loc[2:])}, entry)
            lines.append(f"tenant {entry.get('tenant_id', '?')} (tenants[{loc[1]}]): {where}")
        else:
            lines.append(_where(error, data if isinstance(data, dict) else {}))
    return "\n".join(lines)


def _where(error: Any, data: dict[str, Any]) -> str:
    loc = list(error["loc"])
    where = ".".join(str(p) for p in loc) or "settings"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") or []
        name = (
            rules[loc[1]].get("name")
            if loc[1] < len(rules) and isinstance(rules[loc[1]], dict)
            else None
        )
        rest = ".".join(
            str(p)
            for p in loc[2:]
            if not str(p).startswith(("float", "literal", "str", "function"))
        )
        where = f"rule {name!r} (rules[{loc[1]}])" + (f" {rest}" if rest else "")
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


class TenantsFile(BaseModel):
    """The tenants file (YAML or JSON): ``tenants: [{tenant_id: ..., ...}, ...]``."""

    model_config = ConfigDict(extra="forbid")

    tenants: list[TenantSettings] = Field(default_factory=list)


class TenantDirectory:
    """Settings by tenant id; a tenant with no entry gets the documented defaults."""

    def __init__(self, tenants: list[TenantSettings] | None = None) -> None:
        self._tenants = {t.tenant_id: t for t in tenants or []}

    def set(self, tenant: TenantSettings) -> None:
        """Replace one tenant's settings (a ``cqm.config`` update)."""
        self._tenants[tenant.tenant_id] = tenant

    def get(self, tenant_id: str) -> TenantSettings:
        found = self._tenants.get(tenant_id)
        if found is None:
            found = self._tenants[tenant_id] = TenantSettings(tenant_id=tenant_id)
        return found

    def __iter__(self) -> Any:
        return iter(self._tenants.values())
