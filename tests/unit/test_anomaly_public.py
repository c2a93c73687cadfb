"""The public-benchmark scorer's arithmetic on hand-made examples with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.anomaly_public import Scored, events, main, nab_raw, normalised, roc_auc, sigmoid


def example(scores: list[float]) -> Scored:
    window = [-1] * 10
    window[5] = window[6] = 0  # one window, rows 5-6; probation is row 0
    return Scored("x.csv", scores, window, [(5, 6)])


def test_first_detection_in_window_scores_its_sigmoid_and_a_lone_false_alarm_costs_011() -> None:
    scores = [0.0] * 10
    scores[2] = scores[5] = scores[6] = 1.0  # false alarm, then two detections in the window
    raw, null, perfect = nab_raw(example(scores), 0.5)
    tp = 2 / (1 + math.exp(-5)) - 1  # detection at the window's start: position -1
    assert raw == pytest.approx(tp - 0.11)
    assert null == -1.0
    assert perfect == pytest.approx(tp)
    assert normalised(raw, null, perfect) == pytest.approx(100 * (tp - 0.11 + 1) / (tp + 1))


def test_missed_window_costs_one_and_nothing_detected_normalises_to_zero() -> None:
    raw, null, perfect = nab_raw(example([0.0] * 10), 0.5)
    assert raw == null == -1.0
    assert normalised(raw, null, perfect) == 0.0


def test_detections_during_probation_are_not_scored() -> None:
    scores = [0.0] * 10
    scores[0] = 1.0
    assert nab_raw(example(scores), 0.5)[0] == -1.0


def test_false_alarm_right_after_a_window_costs_less_than_a_lone_one() -> None:
    scores = [0.0] * 10
    scores[7] = 1.0
    raw = nab_raw(example(scores), 0.5)[0]
    assert -1.11 < raw < -1.0
    assert raw == pytest.approx(-1.0 + 0.11 * sigmoid(0.5))


def test_roc_auc_counts_ties_half() -> None:
    assert roc_auc([0.1, 0.2, 0.9, 0.8], [False, False, True, True]) == 1.0
    assert roc_auc([0.5, 0.5], [False, True]) == 0.5
    assert roc_auc([0.1, 0.2], [False, False]) is None


def test_events_count_windows_hit_and_runs_of_false_alarms() -> None:
    scores = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert events(example(scores), 0.5) == (1, 1, 2)


def test_without_data_it_skips_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().out
