"""Feeding events to Kafka: a JSON Lines file as fast as possible, or a stream at a pace."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.produce import EventSender


def send_file(sender: EventSender, path: Path) -> None:
    """Send every non-blank line of a JSON Lines file, bad lines included (the worker
    dead-letters them with a reason)."""
    with path.open("rb") as lines:
        for line in lines:
            line = line.strip()
            if line:
                sender.send_line(line)


def send_paced(
    sender: EventSender,
    events: Iterable[dict[str, Any]],
    start: datetime,
    speed: float,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Send time-ordered events as their ``occurred_at`` comes due at ``speed`` simulated
    seconds per real second (0 = no pacing)."""
    began = time.monotonic()
    origin = start.timestamp()
    for event in events:
        if should_stop():
            break
        if speed > 0:
            due = (datetime.fromisoformat(event["occurred_at"]).timestamp() - origin) / speed
            delay = due - (time.monotonic() - began)
            if delay > 0:
                sender.flush()
                time.sleep(delay)
        sender.send_event(event)
    sender.flush()
