"""Anomaly scores on synthetic contact-center series whose anomalies we placed ourselves."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from processors.anomaly import SeasonalDetector
from streams.anomaly_cli import score_csv

START = 1_767_571_200.0  # 2026-01-05 00:00 UTC, a Monday
STEP = 900.0  # 15-minute intervals
DAY = 96  # points per day

Series = list[tuple[float, float]]


def volume(days: int, seed: int = 1) -> Series:
    """Contacts offered per interval: quiet nights, a midday peak, weekends at 40 %."""
    rng = random.Random(seed)
    out = []
    for i in range(days * DAY):
        t = START + i * STEP
        hour = (i % DAY) / 4
        weekend = (i // DAY) % 7 >= 5
        shape = max(0.0, math.sin(math.pi * (hour - 7) / 12)) if 7 <= hour <= 19 else 0.0
        mean = 2 + 40 * shape * (0.4 if weekend else 1.0)
        out.append((t, max(0.0, round(rng.gauss(mean, math.sqrt(mean))))))
    return out


def aht(days: int, seed: int = 2, noise: float = 0.05) -> Series:
    """Average handle time per interval: 300 s ± 30 s over the day, 5 % noise."""
    rng = random.Random(seed)
    out = []
    for i in range(days * DAY):
        mean = 300 + 30 * math.sin(2 * math.pi * (i % DAY) / DAY)
        out.append((START + i * STEP, rng.gauss(mean, noise * mean)))
    return out


def scores(series: Series, **kwargs: int) -> list[float]:
    detector = SeasonalDetector(**kwargs)
    return [detector.update(t, v) for t, v in series]


def p99(values: list[float]) -> float:
    return sorted(values)[int(0.99 * len(values))]


def test_a_spike_scores_high_and_normal_points_stay_low() -> None:
    series = volume(21)
    spike = 17 * DAY + 48  # Thursday of the third week, noon
    t, normal = series[spike]
    series[spike] = (t, normal * 2.5 + 20)
    s = scores(series)
    assert s[spike] > 0.9
    rest = [x for i, x in enumerate(s[14 * DAY :], 14 * DAY) if abs(i - spike) > 4]
    assert p99(rest) < 0.5
    assert all(0.0 <= x < 1.0 for x in s)


def test_a_level_shift_is_detected_then_learned_within_a_day() -> None:
    shift = 8 * DAY + 40
    series = [(t, v * (1.3 if i >= shift else 1.0)) for i, (t, v) in enumerate(aht(14))]
    s = scores(series)
    assert max(s[shift : shift + 4]) > 0.7
    assert p99(s[shift + DAY :]) < 0.5
    assert p99(s[2 * DAY : shift]) < 0.5


def test_a_drift_of_handle_time_is_caught_before_plus_50_percent() -> None:
    start, per_point = 9 * DAY, 0.5 / DAY  # +50 % a day
    series = [(t, v * (1 + max(0, i - start) * per_point)) for i, (t, v) in enumerate(aht(14))]
    s = scores(series)
    assert max(s[2 * DAY : start]) < 0.5
    first = next(i for i in range(start, len(s)) if s[i] > 0.5)
    assert (first - start) * per_point < 0.5


def test_a_silent_queue_at_midday_scores_high() -> None:
    series = volume(14)
    silent = range(9 * DAY + 44, 9 * DAY + 52)  # Wednesday 11:00-13:00, normally ~40 a slot
    for i in silent:
        series[i] = (series[i][0], 0.0)
    s = scores(series)
    assert min(s[i] for i in silent) > 0.7
    assert sum(s[i] for i in silent) / len(silent) > 0.8


def test_expected_gives_the_band_a_silent_interval_falls_out_of() -> None:
    series = volume(10)
    detector = SeasonalDetector()
    for t, v in series:
        detector.update(t, v)
    noon = START + (10 * DAY + 48) * STEP  # Thursday noon, not fed yet
    expected, lower, upper = detector.expected(noon)
    assert 30 < expected < 55 and lower > 0.0 and upper > expected
    night = detector.expected(START + (10 * DAY + 12) * STEP)
    assert night[1] == 0.0 and night[0] < 6  # volumes never go negative: band clipped at 0
    state = detector.to_dict()
    why = detector.explain(noon, 0.0)
    assert detector.to_dict() == state  # explaining does not learn
    assert why["observed"] == 0.0 and why["expected"] == expected and why["score"] > 0.5
    assert why["score"] == detector.update(noon, 0.0)


def test_a_variance_change_is_detected() -> None:
    start = 8 * DAY
    series = [(t, (v - 300) * (2.5 if i >= start else 1) + 300) for i, (t, v) in enumerate(aht(12))]
    s = scores(series)
    assert max(s[2 * DAY : start]) < 0.5
    assert max(s[start : start + DAY]) > 0.7


def test_quiet_while_warming_up() -> None:
    s = scores(volume(3), min_points=96)
    assert s[:96] == [0.0] * 96
    assert any(x > 0.0 for x in s[96:])


def test_no_look_ahead() -> None:
    series = volume(9)
    full = scores(series)
    assert scores(series[:500]) == full[:500]
    assert scores(series[:777]) == full[:777]


def test_state_survives_a_restart() -> None:
    series = volume(12)
    live = SeasonalDetector()
    for t, v in series[:900]:
        live.update(t, v)
    restored = SeasonalDetector.from_dict(json.loads(json.dumps(live.to_dict())))
    assert [restored.update(t, v) for t, v in series[900:]] == [
        live.update(t, v) for t, v in series[900:]
    ]


def test_odd_inputs_never_crash() -> None:
    detector = SeasonalDetector(min_points=5)
    for i in range(50):  # a constant series, then a change
        assert detector.update(i * 60.0, 7.0) == 0.0
    assert detector.update(50 * 60.0, 8.0) > 0.9
    for bad in (math.nan, math.inf, -math.inf):
        assert detector.update(51 * 60.0, bad) == 0.0
    assert 0.0 <= detector.update(52 * 60.0, 1e300) <= 1.0
    assert 0.0 <= detector.update(53 * 60.0, -1e300) <= 1.0
    assert detector.update(math.nan, 1.0) == 0.0
    for i in range(54, 600):  # the state stays finite and learns normal noise again
        detector.update(i * 60.0, 7.0 + i % 3)
    assert detector.update(600 * 60.0, 8.0) < 0.5
    assert all(
        math.isfinite(x) for x in json.loads(json.dumps(detector.to_dict()))["models"][0]["base"]
    )


def test_irregular_non_seasonal_series() -> None:
    rng = random.Random(3)
    t, series = 0.0, []
    for _ in range(3000):
        t += rng.uniform(1.0, 120.0) if rng.random() > 0.01 else 7200.0  # jitter and gaps
        series.append((t, rng.gauss(50.0, 2.0)))
    series[2500] = (series[2500][0], 80.0)
    s = scores(series)
    assert s[2500] > 0.9
    assert p99(s[300:2490]) < 0.5


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_round_trip(tmp_path: Path) -> None:
    rows = [
        f"2026-01-05 {h:02d}:{m:02d}:00,{10 + (m // 15) % 2}"
        for h in range(6)
        for m in (0, 15, 30, 45)
    ]
    rows.append("2026-01-05T06:00:00+00:00,90")
    rows.append(f"{START + 6.25 * 3600:.0f},11")  # epoch seconds in the same file
    source = write(tmp_path / "in.csv", "timestamp,value\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out.csv"
    assert score_csv(source, out) == len(rows)
    lines = out.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    assert [line.rsplit(",", 1)[0] for line in lines[1:]] == rows  # echoed exactly
    detector = SeasonalDetector()
    expected = [detector.update(START + i * 900.0, 10 + i % 2) for i in range(24)]
    got = [float(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert got[:24] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("timestamp,value\n2026-01-05T00:00:00Z,1\nyesterday,2\n", "line 3: timestamp 'yesterday'"),
        ("timestamp,value\n2026-01-05T00:00:00Z,1\n2026-01-05T00:15:00Z,abc\n", "line 3: value"),
        ("timestamp,value\n2026-01-05T01:00:00Z,1\n2026-01-05T00:15:00Z,2\n", "line 3: timestamp"),
        ("time,v\n1,2\n", "line 1: expected a header"),
    ],
)
def test_bad_rows_name_the_line(tmp_path: Path, body: str, message: str) -> None:
    source = write(tmp_path / "in.csv", body)
    with pytest.raises(ValueError, match=message):
        score_csv(source, tmp_path / "out.csv")
