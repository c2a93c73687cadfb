"""The event contract: what is accepted, and what is refused with a reason a person can act on."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import Accepted, InputTopic, Rejected, decode_message

ANSWERED: dict[str, Any] = {
    "event_id": "e-1",
    "event_type": "contact.answered",
    "tenant_id": "acme",
    "occurred_at": "2026-11-22T09:00:20Z",
    "contact_id": "c-1",
    "channel": "voice",
    "queue_id": "billing",
    "agent_id": "a-7",
    "wait_seconds": 18.5,
}


def decode(obj: Any, topic: InputTopic | None = InputTopic.contacts) -> list[Any]:
    return decode_message(json.dumps(obj).encode(), topic)


def test_the_example_event_is_accepted_and_keeps_unknown_fields() -> None:
    [item] = decode(ANSWERED | {"ivr_path": "1-3"})
    assert isinstance(item, Accepted)
    assert item.event.wait_seconds == 18.5
    assert json.loads(item.raw)["ivr_path"] == "1-3"


def test_years_old_events_are_valid() -> None:
    [item] = decode(ANSWERED | {"occurred_at": "2019-02-03T04:05:06.789+05:45"})
    assert isinstance(item, Accepted)
    assert item.event.occurred_at.isoformat() == "2019-02-02T22:20:06.789000+00:00"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"occurred_at": "2026-11-22T09:00:20"}, "occurred_at: needs a UTC offset or Z"),
        ({"occurred_at": "22/11/2026 09:00"}, "occurred_at: input should be a valid datetime"),
        ({"tenant_id": "Acme Corp"}, "tenant_id: must be 1-63 lowercase letters"),
        ({"wait_seconds": -1}, "wait_seconds: input should be greater than or equal to 0"),
        ({"wait_seconds": "18"}, "wait_seconds: input should be a valid number"),
        ({"channel": "fax"}, "channel: input should be 'voice', 'chat'"),
        ({"agent_id": None}, "agent_id: input should be a valid string"),
        ({"event_id": ""}, "event_id: string should have at least 1 character"),
        ({"event_type": "contact.teleported"}, "unknown event_type 'contact.teleported'"),
        ({"event_type": "survey.response", "csat": 5}, "arrived on the contacts topic"),
        ({"schema_version": 2}, "schema_version: input should be 1"),
    ],
)
def test_bad_contact_events_are_rejected_with_a_reason(change: dict[str, Any], reason: str) -> None:
    [item] = decode(ANSWERED | change)
    assert isinstance(item, Rejected)
    assert reason in item.reason


def test_missing_fields_are_named() -> None:
    event = {k: v for k, v in ANSWERED.items() if k not in ("queue_id", "wait_seconds")}
    [item] = decode(event)
    assert isinstance(item, Rejected)
    assert "queue_id is required" in item.reason and "wait_seconds is required" in item.reason


@pytest.mark.parametrize(
    ("survey", "reason"),
    [
        ({}, "needs at least one of csat, nps, ces, servqual"),
        ({"csat": 6}, "csat: input should be less than or equal to 5"),
        ({"nps": 11}, "nps: input should be less than or equal to 10"),
        ({"ces": 0}, "ces: input should be greater than or equal to 1"),
        ({"servqual": {"empathy": {"expected": 8, "perceived": 3}}}, "servqual.empathy.expected"),
        ({"servqual": {"beauty": {"expected": 5, "perceived": 3}}}, "servqual.beauty"),
        ({"csat": 4, "comment": "x" * 2001}, "comment: string should have at most 2000"),
    ],
)
def test_bad_surveys(survey: dict[str, Any], reason: str) -> None:
    event = {
        "event_id": "s-1",
        "event_type": "survey.response",
        "tenant_id": "acme",
        "occurred_at": "2026-11-22T09:00:00Z",
    }
    [item] = decode(event | survey, InputTopic.surveys)
    assert isinstance(item, Rejected)
    assert reason in item.reason


def test_batch_envelope_decodes_element_by_element() -> None:
    good = ANSWERED | {"event_id": "e-2"}
    bad = ANSWERED | {"event_id": "e-3", "wait_seconds": -5}
    items = decode([ANSWERED, bad, good, "nonsense"])
    assert [type(i).__name__ for i in items] == ["Accepted", "Rejected", "Accepted", "Rejected"]
    assert items[1].reason.startswith("batch element 1: contact.answered 'e-3'")
    assert items[3].reason == "batch element 3: an event must be a JSON object, got a string"
    assert json.loads(items[1].raw)["event_id"] == "e-3"  # the element itself is kept


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"[]", "empty batch envelope"),
        (b"42", "an event must be a JSON object, got a number"),
        (None, "empty message"),
    ],
)
def test_undecodable_messages_keep_their_bytes(value: bytes | None, reason: str) -> None:
    [item] = decode_message(value, InputTopic.contacts)
    assert isinstance(item, Rejected)
    assert reason in item.reason
    assert item.raw == (value or b"")


def test_oversized_message_is_rejected_whole() -> None:
    value = json.dumps([ANSWERED] * 50).encode()
    [item] = decode_message(value, InputTopic.contacts, max_bytes=1000)
    assert isinstance(item, Rejected)
    assert f"message of {len(value)} bytes is over the 1000-byte limit" == item.reason
    assert item.raw == value


def test_every_event_type_is_accepted_on_its_topic() -> None:
    common = {"tenant_id": "acme", "occurred_at": "2026-11-22T09:00:00Z"}
    cases = [
        (InputTopic.contacts, {"event_type": "contact.queued", "contact_id": "c",
                               "channel": "chat", "queue_id": "q", "agent_id": None}),
        (InputTopic.contacts, {"event_type": "contact.abandoned", "contact_id": "c",
                               "channel": "email", "queue_id": "q", "wait_seconds": 0}),
        (InputTopic.contacts, {"event_type": "contact.ended", "contact_id": "c", "channel":
                               "social", "queue_id": "q", "agent_id": "a", "talk_seconds": 1,
                               "resolved": True, "disposition": "complaint"}),
        (InputTopic.surveys, {"event_type": "survey.response", "nps": 0}),
        (InputTopic.agents, {"event_type": "agent.state", "agent_id": "a", "state": "aux",
                             "queue_ids": ["q"]}),
        (InputTopic.evaluations, {"event_type": "evaluation.completed", "agent_id": "a",
                                  "source": "mystery_shopper", "score": 72.5,
                                  "criteria": {"greeting": 100}}),
    ]  # fmt: skip
    for n, (topic, fields) in enumerate(cases):
        [item] = decode(common | {"event_id": f"e{n}"} | fields, topic)
        assert isinstance(item, Accepted), item
