"""Speed and memory of the anomaly detector: ``python -m benchmarks.anomaly [--points N]``.

Feeds one :class:`~processors.anomaly.SeasonalDetector` a seeded 15-minute series with daily
and weekly shape, noise and the odd spike, on one core, and reports points/second of
``update`` (best of three runs) and the size of one series' state: a rough deep ``sizeof`` of
the live object and the length of its JSON ``to_dict``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from array import array
from typing import Any

from processors.anomaly import SeasonalDetector


def series(n: int, seed: int = 7) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    ts, vs = [], []
    for i in range(n):
        hour = (i % 96) / 4
        day = (i // 96) % 7
        mean = 5 + 40 * max(0.0, math.sin(math.pi * (hour - 7) / 12)) * (0.4 if day >= 5 else 1)
        value = rng.gauss(mean, math.sqrt(mean))
        if rng.random() < 0.001:
            value *= 3
        ts.append(1_767_571_200.0 + 900.0 * i)
        vs.append(value)
    return ts, vs


def deep_sizeof(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of ``obj`` and what it holds through ``__slots__``, tuples and arrays (rough)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, bool):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, tuple | list):
        size += sum(deep_sizeof(x, seen) for x in obj)
    elif not isinstance(obj, array | int | float | str):
        for cls in type(obj).__mro__:
            for name in getattr(cls, "__slots__", ()):
                size += deep_sizeof(getattr(obj, name, None), seen)
    return size


def measure(points: int) -> dict[str, Any]:
    ts, vs = series(points)
    best = math.inf
    for _ in range(3):
        detector = SeasonalDetector()
        update = detector.update
        start = time.perf_counter()
        for t, v in zip(ts, vs, strict=True):
            update(t, v)
        best = min(best, time.perf_counter() - start)
    return {
        "points": points,
        "seconds": round(best, 3),
        "points_per_second": round(points / best),
        "state_bytes_sizeof": deep_sizeof(detector),
        "state_bytes_json": len(json.dumps(detector.to_dict())),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=600_000, help="points (default 600000)")
    print(json.dumps(measure(parser.parse_args(argv).points), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
