"""Per-tenant settings (shared/METRICS.md), overridable per channel and per queue.

Resolution order for a contact on (channel, queue): the queue's override, then the channel's,
then the tenant's own value, then the built-in default for that channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class TenantsFile(BaseModel):
    """The tenants file (YAML or JSON): ``tenants: [{tenant_id: ..., ...}, ...]``."""

    model_config = ConfigDict(extra="forbid")

    tenants: list[TenantSettings] = Field(default_factory=list)


class TenantDirectory:
    """Settings by tenant id; a tenant with no entry gets the documented defaults."""

    def __init__(self, tenants: list[TenantSettings] | None = None) -> None:
        self._tenants = {t.tenant_id: t for t in tenants or []}

    def get(self, tenant_id: str) -> TenantSettings:
        found = self._tenants.get(tenant_id)
        if found is None:
            found = self._tenants[tenant_id] = TenantSettings(tenant_id=tenant_id)
        return found

    def __iter__(self) -> Any:
        return iter(self._tenants.values())
