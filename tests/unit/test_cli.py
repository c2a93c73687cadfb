"""The command line and its settings: help that is enough, errors that name what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.cli import build_parser, main
from streams.settings import Settings, load_settings

COMMANDS = ("demo", "worker", "broker", "migrate", "simulate", "replay", "export")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("argv", [[c, "--help"] for c in COMMANDS if c != "export"]
                         + [["export", "figures", "--help"]])  # fmt: skip
def test_every_subcommand_has_help_naming_its_settings(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert "--broker" in out and "CQM_BROKER" in out and "--clickhouse-url" in out


def test_bad_settings_are_reported_with_the_setting_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CQM_BROKER", "localhost:9092")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "--broker / CQM_BROKER must look like kafka://" in err


def test_flags_beat_environment_beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cqm.yaml"
    config.write_text("partitions: 3\ntopic_prefix: file.\nbatch_max: 10\n")
    monkeypatch.setenv("CQM_TOPIC_PREFIX", "env.")
    monkeypatch.setenv("CQM_BATCH_MAX", "20")
    settings = load_settings({"batch_max": 30, "broker": None}, config)
    assert (settings.partitions, settings.topic_prefix, settings.batch_max) == (3, "env.", 30)
    assert settings.input_topics["env.contacts"] == "contacts"


def test_unknown_setting_in_a_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "cqm.yaml"
    config.write_text("partitons: 3\n")
    with pytest.raises(ValueError, match="partitons"):
        load_settings({}, config)


def test_password_never_shown() -> None:
    settings = Settings(clickhouse_url="https://cqm:s3cret@ch.example:8443/")  # type: ignore[arg-type]
    assert "s3cret" not in settings.clickhouse_display
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert settings.clickhouse_dsn.startswith("https://cqm:s3cret@")


def test_tenants_file_errors_name_the_file_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  - tenant_id: acme\n    timezone: Mars/Olympus\n")
    settings = Settings(tenants_file=path)
    with pytest.raises(ValueError) as error:
        settings.tenants()
    message = str(error.value)
    assert str(path) in message
    assert "tenant acme (tenants[0]): timezone: unknown time zone 'Mars/Olympus'" in message


def test_export_needs_an_interval(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "figures"])
    assert "--interval" in capsys.readouterr().err


def test_bad_instant_is_a_user_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["export", "figures", "--interval", "15", "--from", "2026-11-22T00:00",
                 "--data-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "--from '2026-11-22T00:00' needs a UTC offset or Z" in capsys.readouterr().err


def test_simulate_to_a_file_is_reproducible_and_valid(tmp_path: Path) -> None:
    from schemas import validate_event

    runs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.jsonl"
        args = ["simulate", "--output", str(out), "--start", "2026-11-23T08:00:00Z",
                "--duration", "1800", "--seed", "3", "--tenants", "2"]  # fmt: skip
        assert main(args) == 0
        runs.append(out.read_text())
    assert runs[0] == runs[1]
    events = [json.loads(line) for line in runs[0].splitlines()]
    assert len(events) > 100
    assert {e["tenant_id"] for e in events} == {"acme", "globex"}
    for event in events:
        validate_event(event)


def test_anomaly_score_scores_a_csv_without_look_ahead(tmp_path: Path) -> None:
    import math

    rows = ["timestamp,value"]
    for i in range(2000):  # ~20 days of 15-minute points with a daily cycle, then a spike
        value = 100 + 40 * math.sin(2 * math.pi * i / 96) + (i * 7919 % 13) - 6
        rows.append(f"{1_700_000_000 + 900 * i},{900.0 if i == 1900 else value:.3f}")
    source = tmp_path / "series.csv"
    source.write_text("\n".join(rows) + "\n")
    out = tmp_path / "scored.csv"
    assert main(["anomaly", "score", "--input", str(source), "--output", str(out)]) == 0
    scored = out.read_text().splitlines()
    assert scored[0] == "timestamp,value,anomaly_score"
    scores = [float(line.split(",")[2]) for line in scored[1:]]
    assert len(scores) == 2000 and all(0 <= s <= 1 for s in scores)
    assert scores[1900] > 0.9 > max(scores[1500:1900])
    # the first rows alone score exactly as in the whole file: no look-ahead
    (tmp_path / "head.csv").write_text("\n".join(rows[:1001]) + "\n")
    assert main(["anomaly", "score", "--input", str(tmp_path / "head.csv"),
                 "--output", str(tmp_path / "head-out.csv")]) == 0  # fmt: skip
    assert (tmp_path / "head-out.csv").read_text().splitlines() == scored[:1001]
