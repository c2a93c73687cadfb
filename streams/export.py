"""``cqm export figures``: stored interval figures as JSON Lines or CSV, one row per scope."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from processors.figures import COUNT_NAMES, FIGURE_NAMES

EXPORT_COLUMNS: tuple[str, ...] = (
    "interval", "scope", "tenant_id", "channel", "queue_id", "interval_start", "interval_end",
    "timezone", *COUNT_NAMES, *FIGURE_NAMES, "late_events",
)  # fmt: skip


def export_rows(stored: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Stored rows in the published shape: METRICS.md names, instants as ISO 8601 UTC."""
    for row in stored:
        yield {name: _plain(row[name]) for name in EXPORT_COLUMNS}


def write(rows: Iterable[dict[str, Any]], out: IO[str], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            count += 1
    else:
        for row in rows:
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            count += 1
    return count


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value
