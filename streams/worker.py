"""Run the Faust worker in this process (``cqm worker``, and inside ``cqm demo``)."""

from __future__ import annotations

import faust

from streams.app import Runtime, create_app
from streams.settings import Settings


def make_worker(app: faust.App, settings: Settings) -> faust.Worker:
    worker = faust.Worker(
        app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False, console_port=0
    )
    worker.spinner = None  # its terminal escapes garble our own progress line and logs
    return worker


def run_worker(settings: Settings, runtime: Runtime | None = None) -> int:
    """Run until stopped (SIGINT/SIGTERM, or ``worker.stop()`` from a task)."""
    runtime = runtime or Runtime(settings)
    runtime.start()
    app = create_app(settings, runtime)
    worker = make_worker(app, settings)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
