"""The event contract, version 1 (shared/EVENTS.md), as strict pydantic models.

Unknown extra fields are allowed (forward compatibility) and kept in the raw store; everything
the contract names is checked: types without coercion, ranges, an offset on every timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

TenantId = Annotated[str, StringConstraints(pattern=TENANT_PATTERN)]
EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ContactId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ShortId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class Channel(StrEnum):
    voice = "voice"
    chat = "chat"
    messaging = "messaging"
    email = "email"
    social = "social"


class AgentStateName(StrEnum):
    available = "available"
    busy = "busy"
    acw = "acw"
    aux = "aux"
    offline = "offline"


class EvaluationSource(StrEnum):
    internal = "internal"
    mystery_shopper = "mystery_shopper"
    external = "external"
    self_ = "self"


class InputTopic(StrEnum):
    """The kind of input topic an event must arrive on (the suffix after the prefix)."""

    contacts = "contacts"
    surveys = "surveys"
    agents = "agents"
    evaluations = "evaluations"


class _Event(BaseModel):
    # Validated from JSON in strict mode: "18" is not a number and 1 is not a bool, while
    # strings still become enums and RFC 3339 datetimes. Extra fields are kept, not checked.
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    event_id: EventId
    tenant_id: TenantId
    occurred_at: AwareDatetime
    schema_version: Literal[1] = 1

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # AwareDatetime has already refused naive values; store every instant in UTC.
        return value.astimezone(UTC)


class _ContactEvent(_Event):
    contact_id: ContactId
    channel: Channel
    queue_id: ShortId
    agent_id: ShortId | None = None


class ContactQueued(_ContactEvent):
    event_type: Literal["contact.queued"]
    priority: int | None = None


class ContactAnswered(_ContactEvent):
    event_type: Literal["contact.answered"]
    wait_seconds: Seconds
    agent_id: ShortId


class ContactAbandoned(_ContactEvent):
    event_type: Literal["contact.abandoned"]
    wait_seconds: Seconds


class ContactEnded(_ContactEvent):
    event_type: Literal["contact.ended"]
    agent_id: ShortId
    talk_seconds: Seconds
    hold_seconds: Seconds = 0.0
    acw_seconds: Seconds = 0.0
    resolved: bool | None = None
    transferred: bool | None = None
    disposition: Annotated[str, StringConstraints(max_length=64)] | None = None


class ServqualScore(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    expected: Annotated[int, Field(ge=1, le=7)]
    perceived: Annotated[int, Field(ge=1, le=7)]


ServqualDimension = Literal["reliability", "responsiveness", "assurance", "empathy", "tangibles"]
SERVQUAL_DIMENSIONS: tuple[str, ...] = (
    "reliability",
    "responsiveness",
    "assurance",
    "empathy",
    "tangibles",
)


class SurveyResponse(_Event):
    event_type: Literal["survey.response"]
    contact_id: ContactId | None = None
    channel: Channel | None = None
    queue_id: ShortId | None = None
    agent_id: ShortId | None = None
    csat: Annotated[int, Field(ge=1, le=5)] | None = None
    nps: Annotated[int, Field(ge=0, le=10)] | None = None
    ces: Annotated[int, Field(ge=1, le=7)] | None = None
    servqual: dict[ServqualDimension, ServqualScore] | None = None
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _has_a_score(self) -> SurveyResponse:
        if self.csat is None and self.nps is None and self.ces is None and not self.servqual:
            raise ValueError("a survey.response needs at least one of csat, nps, ces, servqual")
        return self


class AgentStateChanged(_Event):
    event_type: Literal["agent.state"]
    agent_id: ShortId
    state: AgentStateName
    queue_ids: list[ShortId] | None = None


class EvaluationCompleted(_Event):
    event_type: Literal["evaluation.completed"]
    agent_id: ShortId
    contact_id: ContactId | None = None
    queue_id: ShortId | None = None
    source: EvaluationSource
    score: Percent
    pass_mark: Percent = 80.0
    criteria: dict[str, Percent] | None = None


ContactEvent = ContactQueued | ContactAnswered | ContactAbandoned | ContactEnded
Event = ContactEvent | SurveyResponse | AgentStateChanged | EvaluationCompleted

EVENT_MODELS: dict[str, type[_Event]] = {
    "contact.queued": ContactQueued,
    "contact.answered": ContactAnswered,
    "contact.abandoned": ContactAbandoned,
    "contact.ended": ContactEnded,
    "survey.response": SurveyResponse,
    "agent.state": AgentStateChanged,
    "evaluation.completed": EvaluationCompleted,
}

TOPIC_OF_TYPE: dict[str, InputTopic] = {
    "contact.queued": InputTopic.contacts,
    "contact.answered": InputTopic.contacts,
    "contact.abandoned": InputTopic.contacts,
    "contact.ended": InputTopic.contacts,
    "survey.response": InputTopic.surveys,
    "agent.state": InputTopic.agents,
    "evaluation.completed": InputTopic.evaluations,
}
