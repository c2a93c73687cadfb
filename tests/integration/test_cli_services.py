"""`cqm broker` and `cqm migrate` as a person runs them."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from streams.broker import free_port
from tests.integration.helpers import CQM, cqm_env, run_cqm

pytestmark = pytest.mark.integration


def test_migrate_applies_each_version_once(tmp_path: Path) -> None:
    env = cqm_env(data_dir=str(tmp_path / "data"))
    first = run_cqm(["migrate"], env).stdout
    versions = "0001_initial, 0002_alerts, 0003_alert_agents, 0004_anomalies"
    assert f"applied {versions} to chdb://" in first
    assert "is up to date" in run_cqm(["migrate"], env).stdout


def test_broker_runs_in_the_foreground_and_says_where(tmp_path: Path) -> None:
    port = free_port()
    env = cqm_env(data_dir=str(tmp_path / "data"))
    broker = subprocess.Popen(
        [*CQM, "broker", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert broker.stdout is not None
        line = broker.stdout.readline()  # printed once it accepts connections
        assert line.startswith(f"embedded broker listening: kafka://127.0.0.1:{port}")
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        broker.terminate()
        broker.wait(timeout=30)
    with pytest.raises(ConnectionRefusedError):  # the broker process went with it
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_commands_say_which_setting_to_fix_when_no_broker_answers(tmp_path: Path) -> None:
    env = cqm_env(data_dir=str(tmp_path / "data"), broker=f"kafka://127.0.0.1:{free_port()}")
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_type": "contact.queued"}\n')
    for args in (["worker"], ["replay", str(events)]):
        done = subprocess.run([*CQM, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "cannot reach the Kafka broker" in done.stderr
        assert "(--broker / CQM_BROKER)" in done.stderr and "Traceback" not in done.stderr
