"""Detection quality on a public labelled benchmark in NAB layout (development set).

``python -m benchmarks.anomaly_public [--data /work/nab] [--threshold 0.9] [--json OUT]``

``--data`` holds ``data/<group>/<file>.csv`` (``timestamp,value``) and
``labels/combined_windows.json`` (file -> list of ``[start, end]`` windows), as the Numenta
Anomaly Benchmark does. No NAB code or data is part of this repository: the directory is fetched
by hand (see docs/anomaly-evaluation.md) and the scorer below is our own reading of NAB's
rules. Each file is scored through :func:`streams.anomaly_cli.score_csv`, the code path of
``cqm anomaly score``. Reported per file and overall:

- NAB-style score, standard profile: a detection is a point scoring >= threshold; inside a
  window only the first detection counts, weighted by ``sigmoid(position)`` (about 1 at the
  window's start, 0 at its end); a detection outside any window costs 0.11 (less shortly after
  a window); a window without detection costs 1. Points in the first 15 % of a file
  (probation) are not scored. Normalised ``100 * (raw - null) / (perfect - null)`` where null
  detects nothing; at the threshold that maximises the total over all files, and at a fixed one.
- threshold-free: per-file ROC-AUC of the scores against point labels (inside a window), and
  event-wise precision/recall at the best-F1 threshold over all files (an event is a window
  with a detection; a false event is a run of detections outside windows).

Without the data directory it prints a note and exits 0 (CI has no NAB data).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from streams.anomaly_cli import parse_timestamp, score_csv

A_TP, A_FP, A_FN = 1.0, -0.11, -1.0  # NAB standard profile
PROBATION = 0.15


@dataclass(frozen=True)
class Scored:
    """One file: scores per row and, per row, the index of its window (-1: none)."""

    name: str
    scores: list[float]
    window: list[int]
    windows: list[tuple[int, int]]  # (first row, last row) of each window with rows in it


def sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: ~1 at the window start (y=-1), 0 at its end, -> -1 far after."""
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def label_rows(times: Sequence[float], spans: Sequence[tuple[float, float]]) -> list[int]:
    """Index of the window each row falls in, or -1."""
    out = [-1] * len(times)
    for k, (a, b) in enumerate(spans):
        for i, t in enumerate(times):
            if a <= t <= b:
                out[i] = k
    return out


def windows_of(window: Sequence[int]) -> list[tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for i, k in enumerate(window):
        if k >= 0:
            first, _ = spans.get(k, (i, i))
            spans[k] = (first, i)
    return [spans[k] for k in sorted(spans)]


def nab_raw(scored: Scored, threshold: float) -> tuple[float, float, float]:
    """(raw score, null score, perfect score) of one file at ``threshold``."""
    n = len(scored.scores)
    start = int(PROBATION * n)
    ids = sorted({k for k in scored.window if k >= 0})
    spans = dict(zip(ids, scored.windows, strict=True))
    detected: set[int] = set()
    raw = 0.0
    last_end, last_len = -1, 1
    for i in range(n):
        k = scored.window[i]
        if k >= 0:
            last_end, last_len = spans[k][1], spans[k][1] - spans[k][0] + 1
        if i < start or scored.scores[i] < threshold:
            continue
        if k >= 0:
            if k not in detected:
                detected.add(k)
                raw += A_TP * sigmoid(-(last_end - i + 1) / last_len)
        elif last_end >= 0:  # after a window: costs less the sooner it follows it
            raw += -A_FP * sigmoid((i - last_end) / last_len)
        else:
            raw += A_FP
    counted = [k for k in ids if spans[k][1] >= start]
    raw += A_FN * sum(1 for k in counted if k not in detected)
    perfect = A_TP * sum(sigmoid(-1.0) for _ in counted)
    return raw, A_FN * len(counted), perfect


def normalised(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float | None:
    """Mann-Whitney AUC (ties count half); None without both classes."""
    pairs = sorted(zip(scores, positive, strict=True))
    n_pos = sum(1 for _, p in pairs if p)
    n_neg = len(pairs) - n_pos
    if not n_pos or not n_neg:
        return None
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0  # average 1-based rank of the tie group
        rank_sum += mid * sum(1 for _, p in pairs[i:j] if p)
        i = j
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def events(scored: Scored, threshold: float) -> tuple[int, int, int]:
    """(windows detected, windows, false alarm runs) at ``threshold``, after probation."""
    start = int(PROBATION * len(scored.scores))
    hit: set[int] = set()
    false_runs, previous = 0, False
    for i in range(start, len(scored.scores)):
        alarm = scored.scores[i] >= threshold
        k = scored.window[i]
        if alarm and k >= 0:
            hit.add(k)
        if alarm and k < 0 and not previous:
            false_runs += 1
        previous = alarm and k < 0
    counted = {k for k in scored.window[start:] if k >= 0}
    return len(hit & counted), len(counted), false_runs


def thresholds(files: Sequence[Scored]) -> list[float]:
    grid = {round(s, 3) for f in files for s in f.scores}
    return sorted(t for t in grid if t > 0.0) or [1.0]


def score_file(csv_path: Path, spans_text: Sequence[Sequence[str]], name: str) -> Scored:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "scores.csv"
        score_csv(csv_path, out)
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
    times = [parse_timestamp(r["timestamp"]) for r in rows]
    spans = [
        (datetime.fromisoformat(a).timestamp(), datetime.fromisoformat(b).timestamp())
        for a, b in ((s[0] + "+00:00", s[1] + "+00:00") for s in spans_text)
    ]
    window = label_rows(times, spans)
    return Scored(name, [float(r["anomaly_score"]) for r in rows], window, windows_of(window))


def evaluate(files: Sequence[Scored], fixed: float) -> dict[str, Any]:
    def total(th: float) -> tuple[float, float, float]:
        parts = [nab_raw(f, th) for f in files]
        return tuple(sum(p[i] for p in parts) for i in range(3))  # type: ignore[return-value]

    grid = thresholds(files)
    best_th = max(grid, key=lambda th: total(th)[0])
    best_f1, f1_th, f1_pr = -1.0, 1.0, (0.0, 0.0)
    for th in grid:
        found = [events(f, th) for f in files]
        tp, n, fp = (sum(e[i] for e in found) for i in range(3))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / n if n else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best_f1:
            best_f1, f1_th, f1_pr = f1, th, (precision, recall)
    per_file = {}
    for f in files:
        auc = roc_auc(f.scores, [k >= 0 for k in f.window])
        per_file[f.name] = {
            "rows": len(f.scores),
            "windows": len(f.windows),
            "nab_best": round(normalised(*nab_raw(f, best_th)), 1),
            "nab_fixed": round(normalised(*nab_raw(f, fixed)), 1),
            "auc": None if auc is None else round(auc, 3),
        }
    aucs = [v["auc"] for v in per_file.values() if v["auc"] is not None]
    return {
        "files": len(files),
        "nab_score_best": round(normalised(*total(best_th)), 1),
        "best_threshold": best_th,
        "nab_score_fixed": round(normalised(*total(fixed)), 1),
        "fixed_threshold": fixed,
        "mean_auc": round(sum(aucs) / len(aucs), 3) if aucs else None,
        "event_best_f1": {
            "threshold": f1_th,
            "f1": round(best_f1, 3),
            "precision": round(f1_pr[0], 3),
            "recall": round(f1_pr[1], 3),
        },
        "per_file": per_file,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=Path("/work/nab"), help="NAB-layout dir")
    parser.add_argument("--threshold", type=float, default=0.9, help="fixed threshold (0.9)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    labels = args.data / "labels" / "combined_windows.json"
    if not labels.is_file():
        print(f"note: no NAB data at {args.data} (need {labels}); public benchmark skipped")
        return 0
    windows = json.loads(labels.read_text())
    files = []
    for name, spans in sorted(windows.items()):
        path = args.data / "data" / name
        if path.is_file():
            files.append(score_file(path, spans, name))
    if not files:
        print(f"note: no labelled CSV of {labels} under {args.data / 'data'}; skipped")
        return 0
    result = {"command": "python -m benchmarks.anomaly_public", **evaluate(files, args.threshold)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
