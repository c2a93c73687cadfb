"""The command line and its settings: help that is enough, errors that name what to fix."""

from __future__ import annotations

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
