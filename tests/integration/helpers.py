"""Running the real `cqm` command line against the test's broker and ClickHouse."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

CQM = [sys.executable, "-m", "streams.cli"]


def cqm_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQM_")}
    env.update({f"CQM_{name.upper()}": value for name, value in settings.items()})
    return env


def run_cqm(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CQM, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"cqm {' '.join(args)} exited {done.returncode}\n--- stdout\n{done.stdout[-3000:]}"
            f"\n--- stderr\n{done.stderr[-6000:]}"
        )
    return done


def export_figures(env: dict[str, str], interval: str) -> list[dict[str, Any]]:
    out = run_cqm(["export", "figures", "--interval", interval, "--format", "jsonl"], env)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    with path.open("w") as out:
        for line in lines:
            out.write(line if isinstance(line, str) else json.dumps(line))
            out.write("\n")
    return path


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; fail naming ``what`` after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def get_json(url: str) -> Any:
    """GET a JSON document, or None while the server is not answering."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = int(env["CQM_WEB_PORT"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([*CQM, "worker"], env=self.env, stdout=out, stderr=out)
        wait_for(self.stats, 60, "the worker's /stats endpoint")
        return self

    def stats(self) -> dict[str, Any] | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited {self.process.returncode}: {self.log.read_text()}")
        return get_json(f"http://127.0.0.1:{self.port}/stats")  # type: ignore[no-any-return]

    def get(self, path: str) -> Any:
        return get_json(f"http://127.0.0.1:{self.port}{path}")

    def wait_valid(self, n: int, timeout: float = 120) -> dict[str, Any]:
        return wait_for(  # type: ignore[no-any-return]
            lambda: (s := self.stats()) and s["valid"] >= n and s, timeout, f"{n} stored events"
        )

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        """Never leave a worker behind, whatever the test did."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=60)
