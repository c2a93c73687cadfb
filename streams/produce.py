"""Send events to the input topics (kafka-python): used by ``cqm replay`` and ``cqm simulate``.

Each event goes to the topic of its type, keyed by its tenant. A line that cannot be routed (not
JSON, no known event_type) is still sent, to the contacts topic, so that the worker dead-letters
it with a reason: nothing is dropped on the way in.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.events import TOPIC_OF_TYPE, InputTopic
from streams.settings import Settings


def bootstrap_servers(broker_url: str) -> list[str]:
    return broker_url.removeprefix("kafka://").split(",")


class BrokerUnreachable(ConnectionError):
    """No bootstrap server of the configured broker accepts connections."""


def check_broker(settings: Settings, timeout: float = 5.0) -> None:
    """Fail early, naming the setting, when no bootstrap server answers."""
    assert settings.broker is not None
    errors = []
    for server in bootstrap_servers(settings.broker):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host or server, int(port or 9092)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {getattr(exc, 'strerror', None) or exc}")
    raise BrokerUnreachable(
        f"cannot reach the Kafka broker {settings.broker} (--broker / CQM_BROKER): "
        f"{'; '.join(errors)}. Start the embedded one with `cqm broker`, or point --broker "
        "at your cluster."
    )


def ensure_topics(settings: Settings) -> None:
    """Create the input and dead-letter topics with the app's partition count if missing.

    A producer must never auto-create them: the broker's default partition count would not
    match what the worker declares.
    """
    assert settings.broker is not None
    check_broker(settings)
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers(settings.broker), client_id="cqm-admin"
    )
    try:
        existing = set(admin.list_topics())
        wanted = [*settings.input_topics, settings.deadletter_topic, settings.alerts_topic]
        missing = [
            NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
            for name in wanted
            if name not in existing
        ]
        if settings.config_topic not in existing:  # compacted: the latest settings per tenant
            missing.append(
                NewTopic(settings.config_topic, num_partitions=settings.partitions,
                         replication_factor=1, topic_configs={"cleanup.policy": "compact"})
            )  # fmt: skip
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # made meanwhile by another
                admin.create_topics(missing)
    finally:
        admin.close()


@contextlib.contextmanager
def sending(settings: Settings, envelope: int = 1) -> Iterator[EventSender]:
    """A sender on the configured broker (checked), with the topics created, flushed and
    closed at the end."""
    ensure_topics(settings)
    sender = EventSender(settings, envelope=envelope)
    try:
        yield sender
    finally:
        sender.close()


class EventSender:
    """Routes and sends events; ``envelope`` > 1 packs that many per message (a JSON array)."""

    def __init__(self, settings: Settings, envelope: int = 1) -> None:
        assert settings.broker is not None
        self.settings = settings
        self.envelope = envelope
        self.sent = 0  # events (or unroutable lines) handed to Kafka
        self.messages = 0
        self._pending: dict[tuple[str, str], list[Any]] = defaultdict(list)
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap_servers(settings.broker),
            client_id="cqm-sender",
            linger_ms=20,
            acks="all",
            max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        )

    def route(self, event: Any) -> tuple[str, str]:
        """(topic, key) for a decoded JSON value; an envelope goes by its first element."""
        if isinstance(event, list) and event:
            event = event[0]
        if isinstance(event, dict):
            kind = TOPIC_OF_TYPE.get(str(event.get("event_type")), InputTopic.contacts)
            tenant = event.get("tenant_id")
            return self.settings.topic(kind), tenant if isinstance(tenant, str) else ""
        return self.settings.topic(InputTopic.contacts), ""

    def send_event(self, event: dict[str, Any]) -> None:
        topic, key = self.route(event)
        if self.envelope <= 1:
            self._send(topic, key, json.dumps(event, separators=(",", ":")).encode(), 1)
            return
        pending = self._pending[(topic, key)]
        pending.append(event)
        if len(pending) >= self.envelope:
            self._send_pending(topic, key)

    def send_line(self, line: bytes) -> None:
        """Send one JSON Lines line as it is (its bytes are what a dead letter would keep)."""
        try:
            event = json.loads(line)
        except ValueError:
            topic, key = self.route(None)
            self._send(topic, key, line, 1)
            return
        if self.envelope > 1 and isinstance(event, dict):
            self.send_event(event)
        else:
            topic, key = self.route(event)
            self._send(topic, key, line, len(event) if isinstance(event, list) and event else 1)

    def send_all(self, events: Iterable[dict[str, Any]]) -> None:
        for event in events:
            self.send_event(event)

    def _send_pending(self, topic: str, key: str) -> None:
        pending = self._pending.pop((topic, key), [])
        if pending:
            body = json.dumps(pending, separators=(",", ":")).encode()
            self._send(topic, key, body, len(pending))

    def send_raw(self, topic: str, key: str, value: bytes) -> None:
        self._producer.send(topic, key=key.encode() or None, value=value)
        self.messages += 1

    def _send(self, topic: str, key: str, value: bytes, count: int) -> None:
        self._producer.send(topic, key=key.encode() or None, value=value)
        self.sent += count
        self.messages += 1

    def flush(self) -> None:
        for topic, key in list(self._pending):
            self._send_pending(topic, key)
        self._producer.flush()

    def close(self) -> None:
        self.flush()
        self._producer.close()
