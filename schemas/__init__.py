"""The event contract, tenant settings and figure rows of contact-quality-monitor. No I/O."""

from schemas.decode import Accepted, Decoded, InvalidEvent, Rejected, decode_message, validate_event
from schemas.events import (
    SERVQUAL_DIMENSIONS,
    AgentStateChanged,
    Channel,
    ContactAbandoned,
    ContactAnswered,
    ContactEnded,
    ContactEvent,
    ContactQueued,
    EvaluationCompleted,
    Event,
    InputTopic,
    SurveyResponse,
)
from schemas.tenants import (
    FigureSettings,
    ResolvedSettings,
    SlFormula,
    TenantDirectory,
    TenantSettings,
    TenantsFile,
)

__all__ = [
    "SERVQUAL_DIMENSIONS",
    "Accepted",
    "AgentStateChanged",
    "Channel",
    "ContactAbandoned",
    "ContactAnswered",
    "ContactEnded",
    "ContactEvent",
    "ContactQueued",
    "Decoded",
    "EvaluationCompleted",
    "Event",
    "FigureSettings",
    "InputTopic",
    "InvalidEvent",
    "Rejected",
    "ResolvedSettings",
    "SlFormula",
    "SurveyResponse",
    "TenantDirectory",
    "TenantSettings",
    "TenantsFile",
    "decode_message",
    "validate_event",
]
