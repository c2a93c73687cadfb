"""Turn Kafka message bytes (or JSON Lines) into validated events or reasons for rejection.

Pure: no I/O. A message holds one event object or a JSON array of them (a batch envelope);
each element is validated on its own, so one bad element never sinks its neighbours.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.events import EVENT_MODELS, TOPIC_OF_TYPE, Event, InputTopic

DEFAULT_MAX_MESSAGE_BYTES = 1_000_000


class InvalidEvent(ValueError):
    """An input that is not a valid event; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Accepted:
    event: Event
    raw: str  # the element's own JSON text, unknown fields included


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str
    raw: bytes  # the element's bytes when the message parsed, else the whole message
    index: int | None = None  # position in a batch envelope


Decoded = Accepted | Rejected


def validate_event(obj: Any, topic: InputTopic | None = None, text: str | None = None) -> Event:
    """Validate one decoded JSON value as an event (on ``topic``, when given).

    >>> e = validate_event({"event_id": "e-1", "event_type": "contact.abandoned",
    ...     "tenant_id": "acme", "occurred_at": "2026-11-22T10:00:00+01:00",
    ...     "contact_id": "c-1", "channel": "voice", "queue_id": "billing",
    ...     "wait_seconds": 3})
    >>> e.occurred_at.isoformat()
    '2026-11-22T09:00:00+00:00'
    >>> validate_event({"event_type": "contact.exploded"})
    Traceback (most recent call last):
    ...
    schemas.decode.InvalidEvent: unknown event_type 'contact.exploded'; expected one of: ...
    """
    if not isinstance(obj, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {_json_type(obj)}")
    event_type = obj.get("event_type")
    if not isinstance(event_type, str):
        raise InvalidEvent("missing event_type (a string such as 'contact.answered')")
    model = EVENT_MODELS.get(event_type)
    if model is None:
        known = ", ".join(EVENT_MODELS)
        raise InvalidEvent(f"unknown event_type {event_type!r}; expected one of: {known}")
    if topic is not None and TOPIC_OF_TYPE[event_type] is not topic:
        expected = TOPIC_OF_TYPE[event_type].value
        raise InvalidEvent(
            f"{event_type} arrived on the {topic.value} topic; send it to the {expected} topic"
        )
    try:
        if text is None:
            text = json.dumps(obj)
        return model.model_validate_json(text)  # type: ignore[return-value]
    except ValidationError as exc:
        raise InvalidEvent(_explain(exc, obj)) from None


def decode_message(
    value: bytes | None,
    topic: InputTopic | None = None,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> list[Decoded]:
    """Decode one Kafka message value into accepted events and rejections, in order.

    >>> [type(d).__name__ for d in decode_message(b'[{"event_type": "x"}, 7]')]
    ['Rejected', 'Rejected']
    >>> decode_message(b'{oops')[0].reason
    'not valid JSON: Expecting property name enclosed in double quotes (line 1, column 2)'
    """
    if value is None:
        return [Rejected("empty message (no value)", b"")]
    if len(value) > max_bytes:
        return [
            Rejected(f"message of {len(value)} bytes is over the {max_bytes}-byte limit", value)
        ]
    try:
        text = value.decode("utf-8")  # json.loads(bytes) would guess UTF-16/32
        parsed = json.loads(text)
    except UnicodeDecodeError:
        return [Rejected("not UTF-8 text", value)]
    except json.JSONDecodeError as exc:
        return [
            Rejected(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", value)
        ]
    if isinstance(parsed, list):
        if not parsed:
            return [Rejected("empty batch envelope (a JSON array with no events)", value)]
        return [_decode_one(item, topic, index) for index, item in enumerate(parsed)]
    return [_decode_one(parsed, topic, None, original=value, text=text.strip())]


def _decode_one(
    obj: Any,
    topic: InputTopic | None,
    index: int | None,
    original: bytes | None = None,
    text: str | None = None,
) -> Decoded:
    if text is None:  # a batch element: its own JSON text, for the raw store
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        event = validate_event(obj, topic, text)
    except InvalidEvent as exc:
        where = f"batch element {index}: " if index is not None else ""
        raw = original if original is not None else text.encode()
        return Rejected(where + str(exc), raw, index)
    return Accepted(event, text)


def _explain(exc: ValidationError, obj: dict[str, Any]) -> str:
    ident = obj.get("event_id")
    prefix = f"{obj.get('event_type')} {ident!r}: " if isinstance(ident, str) else ""
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "event"
        if err["type"] == "missing":
            parts.append(f"{field} is required")
            continue
        got = err.get("input")
        shown = json.dumps(got)[:60] if _jsonable(got) else repr(got)[:60]
        parts.append(f"{field}: {_message(err)} (got {shown})")
    return prefix + "; ".join(parts)


def _message(err: Any) -> str:
    msg = str(err["msg"])
    if err["type"] == "timezone_aware":
        return "needs a UTC offset or Z (e.g. 2026-11-22T09:00:00Z)"
    if err["type"] == "string_pattern_mismatch" and err["loc"] == ("tenant_id",):
        return "must be 1-63 lowercase letters, digits, '_' or '-', starting with a letter or digit"
    return msg[0].lower() + msg[1:] if msg else msg


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
