"""``cqm demo``: broker + worker + simulator (or a replayed file) in one process.

The worker runs here, so the in-process ClickHouse engine (chDB, one process at a time) is
shared by the worker and the summary printed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from processors.intervals import Interval
from schemas.tenants import TenantDirectory, TenantSettings
from streams.app import Runtime, create_app
from streams.broker import EmbeddedBroker, free_port
from streams.produce import ensure_topics, sending
from streams.replay import send_file, send_paced
from streams.settings import Settings
from streams.simulator import SimConfig, default_config, simulate
from streams.worker import make_worker

STALL_SECONDS = 60.0  # give up waiting when nothing has been processed for this long


@dataclass
class Outcome:
    sent: int = 0
    summary: str = ""
    error: BaseException | None = None
    complete: bool = False


def run_demo(
    settings: Settings,
    duration: float,
    speed: float,
    replay: Path | None,
    tenants: int,
    seed: int,
) -> int:
    with contextlib.ExitStack() as stack:
        if settings.broker is None:
            broker = stack.enter_context(EmbeddedBroker(settings.data_dir))
            settings = settings.with_broker(broker.url)
            print(f"embedded broker   {broker.url} (Tansu, in memory)", file=sys.stderr)
        web_port = settings.web_port if "web_port" in settings.model_fields_set else free_port()
        # a replay shows what live processing of the same events showed: event time, unless
        # the user asked for the wall clock (a back-fill: history never enters the live view)
        clock = settings.live_clock if "live_clock" in settings.model_fields_set else "event"
        settings = settings.model_copy(update={"live_clock": clock, "web_port": web_port})
        print(f"ClickHouse        {settings.clickhouse_display}", file=sys.stderr)
        print(
            f"live figures      http://{settings.web_host}:{web_port}/live/<tenant>",
            file=sys.stderr,
        )
        ensure_topics(settings)
        config = None
        if replay is None:
            span = timedelta(seconds=duration * speed)  # simulated time that ends now
            config = default_config(datetime.now(UTC) - span, span, seed=seed, tenants=tenants)
        runtime = Runtime(settings, _demo_tenants(settings, config))
        runtime.start()
        outcome = _run(settings, runtime, duration, speed, replay, config)
    if outcome.error is not None:
        print(f"\ncqm demo: failed: {outcome.error}", file=sys.stderr)
        return 1
    print(outcome.summary)
    return 0 if outcome.complete else 1


def _run(
    settings: Settings,
    runtime: Runtime,
    duration: float,
    speed: float,
    replay: Path | None,
    config: SimConfig | None,
) -> Outcome:
    app = create_app(settings, runtime)
    worker = make_worker(app, settings)
    outcome = Outcome()
    stopping: list[asyncio.Future[None]] = []  # keeps the stop task referenced until it runs
    began = time.monotonic()

    def produce() -> int:
        producing = time.monotonic()
        with sending(settings) as sender:
            if config is None:
                assert replay is not None
                send_file(sender, replay)
            else:
                deadline = producing + duration + 5
                stop = lambda: time.monotonic() > deadline  # noqa: E731
                send_paced(sender, simulate(config), config.start, speed, stop)
        return sender.sent

    def progress(final: bool = False) -> None:
        c = runtime.counters
        line = (
            f"[{time.monotonic() - began:5.0f}s] received {c.received:,} · stored {c.valid:,} · "
            f"duplicates {c.duplicates:,} · dead letters {c.dead_letters:,} · late {c.late:,}"
        )
        if sys.stderr.isatty():
            print("\r" + line, end="\n" if final else "", file=sys.stderr, flush=True)
        elif final or int(time.monotonic() - began) % 5 == 0:
            print(line, file=sys.stderr, flush=True)

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def show_progress() -> None:
        progress()

    @app.task  # type: ignore[untyped-decorator]
    async def drive() -> None:
        try:
            loop = asyncio.get_running_loop()
            outcome.sent = await loop.run_in_executor(None, produce)
            last, last_change = -1, time.monotonic()
            while runtime.counters.received < outcome.sent:
                if runtime.counters.received != last:
                    last, last_change = runtime.counters.received, time.monotonic()
                elif time.monotonic() - last_change > STALL_SECONDS:
                    raise RuntimeError(
                        f"processed {last} of {outcome.sent} events, then nothing for "
                        f"{STALL_SECONDS:.0f} s"
                    )
                await asyncio.sleep(0.1)
            progress(final=True)
            outcome.complete = True
            paced = config is not None
            outcome.summary = await runtime.run(summarise, runtime, settings, paced)
        except Exception as exc:  # reported after the worker stops
            outcome.error = exc
        finally:
            stopping.append(asyncio.ensure_future(worker.stop()))

    with contextlib.suppress(SystemExit):
        worker.execute_from_commandline()
    return outcome


def _demo_tenants(settings: Settings, config: SimConfig | None) -> TenantDirectory:
    """The tenants file if given; else the simulated tenants in their own time zones."""
    if settings.tenants_file is not None or config is None:
        return settings.tenants()
    return TenantDirectory(
        [TenantSettings(tenant_id=t.tenant_id, timezone=t.timezone) for t in config.tenants]
    )


def summarise(runtime: Runtime, settings: Settings, paced: bool = False) -> str:
    """Per-tenant summary from ClickHouse: what was stored and each local day's figures."""
    counts = runtime.store.counts()
    c = runtime.counters
    rate = f"{c.received / max(c.busy_seconds, 1e-3):,.0f} events/s"
    lines = [
        "",
        f"Every input accounted for: received {c.received:,} = stored {c.valid:,} + "
        f"duplicates {c.duplicates:,} + dead letters {c.dead_letters:,}  (late: {c.late:,})",
        f"Processed in {c.busy_seconds:.2f} s from first to last batch "
        + (f"({c.batches:,} batches, paced by the simulator)" if paced else f"({rate})"),
        "",
        f"{'tenant':<12} {'day (local)':<12} {'offered':>8} {'SL %':>6} {'aband %':>8} "
        f"{'ASA s':>6} {'AHT s':>6} {'CSAT %':>7} {'NPS':>6} {'events':>8} {'dead':>5}",
    ]
    shown: set[str] = set()
    for row in runtime.store.interval_figures(Interval.day):
        if row["scope"] != "tenant":
            continue
        tenant = row["tenant_id"]
        local_day = _local_day(row["interval_start"], runtime.tenants.get(tenant).zone)
        # events and dead letters are per tenant: on its first day's line only
        first, n = tenant not in shown, counts.get(tenant, {})
        shown.add(tenant)
        lines.append(
            f"{tenant:<12} {local_day:<12} {row['offered']:>8,} {_f(row['service_level_pct']):>6} "
            f"{_f(row['abandon_rate_pct']):>8} {_f(row['asa_seconds']):>6} "
            f"{_f(row['aht_seconds'], 0):>6} {_f(row['csat_pct']):>7} {_f(row['nps']):>6} "
            f"{_n(n.get('events', 0), first):>8} {_n(n.get('dead_letters', 0), first):>5}"
        )
    incidents = runtime.store.alerts(limit=100_000)
    fired = [a for a in incidents if a.was_firing and a.state.value != "pending"]
    by_rule: dict[str, int] = {}
    for alert in fired:
        by_rule[alert.rule] = by_rule.get(alert.rule, 0) + 1
    if fired:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items()))
        lines += ["", f"Alerts fired: {len(fired)} ({rules}); see: cqm alerts list"]
    else:
        lines += ["", "Alerts fired: none"]
    lines += [
        "",
        f"Data: ClickHouse {settings.clickhouse_display}, database {settings.clickhouse_database}"
        " (tables events, interval_figures, dead_letters).",
        "Export:  cqm export figures --interval 15 --format csv"
        + ("" if not settings.embedded_clickhouse else f" --data-dir {settings.data_dir}"),
    ]
    return "\n".join(lines)


def _local_day(start: Any, zone: Any) -> str:
    return str(start.replace(tzinfo=UTC).astimezone(zone).date())


def _n(value: int, show: bool) -> str:
    return f"{value:,}" if show else ""


def _f(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
