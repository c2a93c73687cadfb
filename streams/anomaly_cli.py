"""``cqm anomaly score``: anomaly scores for a ``timestamp,value`` CSV, offline.

The same :class:`~processors.anomaly.SeasonalDetector` as the live path, fed row by row, so a
file scores exactly as the stream would have. Timestamps are ISO 8601 (naive means UTC) or
epoch seconds, in time order, at any interval; they are echoed as read.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from processors.anomaly import SeasonalDetector


def parse_timestamp(text: str) -> float:
    """Epoch seconds of an ISO 8601 instant (naive = UTC) or of a number of epoch seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    value = datetime.fromisoformat(text)  # ValueError names the text
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def score_csv(input_path: Path, output_path: Path) -> int:
    """Write ``timestamp,value,anomaly_score`` for each row of ``input_path``; rows written."""
    detector = SeasonalDetector()
    rows = 0
    with input_path.open(newline="") as src, output_path.open("w", newline="") as out:
        reader = csv.reader(src)
        header = next(reader, None)
        names = [h.strip().lower() for h in header or []]
        if "timestamp" not in names or "value" not in names:
            raise ValueError(
                f"{input_path}: line 1: expected a header with 'timestamp' and 'value' columns, "
                f"got {header!r}"
            )
        ti, vi = names.index("timestamp"), names.index("value")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["timestamp", "value", "anomaly_score"])
        previous = -float("inf")
        for row in reader:
            where = f"{input_path}: line {reader.line_num}"
            if not row:
                continue  # a blank line carries nothing
            if len(row) <= max(ti, vi):
                raise ValueError(f"{where}: expected {len(names)} columns, got {len(row)}")
            stamp, text = row[ti], row[vi]
            try:
                t = parse_timestamp(stamp)
            except ValueError:
                raise ValueError(
                    f"{where}: timestamp {stamp!r} is neither ISO 8601 "
                    "(e.g. 2026-01-05T09:15:00Z) nor epoch seconds"
                ) from None
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{where}: value {text!r} is not a number") from None
            if t < previous:
                raise ValueError(
                    f"{where}: timestamp {stamp!r} is earlier than the row before; "
                    "sort the file by time"
                )
            previous = t
            writer.writerow([stamp, text, f"{detector.update(t, value):.6f}"])
            rows += 1
    return rows


def add_parser(sub: Any) -> None:
    """Add ``anomaly score --input FILE.csv --output OUT.csv`` to argparse subparsers ``sub``."""
    p = sub.add_parser("anomaly", help="anomaly scores of figure series")
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    s = what.add_parser(
        "score",
        help="score a timestamp,value CSV (ISO 8601, naive = UTC, or epoch seconds; in time "
        "order) and write timestamp,value,anomaly_score with scores in [0, 1]",
    )
    s.add_argument("--input", type=Path, required=True, metavar="FILE.csv", help="series to score")
    s.add_argument("--output", type=Path, required=True, metavar="OUT.csv", help="file to write")


def run(args: argparse.Namespace) -> int:
    """Run ``cqm anomaly score``; 0 on success, 2 with a message on a bad file."""
    if not args.input.is_file():
        print(f"cqm anomaly score: --input {args.input}: no such file", file=sys.stderr)
        return 2
    try:
        n = score_csv(args.input, args.output)
    except ValueError as exc:
        print(f"cqm anomaly score: {exc}", file=sys.stderr)
        return 2
    print(f"scored {n} rows into {args.output}", file=sys.stderr)
    return 0
