"""``cqm``: the command line. Every setting is a flag, a ``CQM_*`` variable or a config entry."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streams import anomaly_cli
from streams.produce import BrokerUnreachable
from streams.settings import DEFAULT_BROKER, Settings, load_settings
from streams.store import StoreBusy

COMMON = {
    "broker": "Kafka bootstrap, kafka://HOST:PORT (env CQM_BROKER; default: the embedded "
    f"broker, {DEFAULT_BROKER} for `cqm broker`, a private one for `cqm demo`)",
    "clickhouse_url": "ClickHouse server http(s)://user:pass@host:8123 or chdb:///path "
    "(env CQM_CLICKHOUSE_URL; default chdb://<data-dir>/clickhouse)",
    "data_dir": "where the embedded engine and logs live (env CQM_DATA_DIR; default .cqm)",
    "tenants_file": "YAML/JSON file of tenant settings (env CQM_TENANTS_FILE)",
    "topic_prefix": "prefix of every topic (env CQM_TOPIC_PREFIX; default 'cqm.')",
    "log_level": "DEBUG, INFO, WARNING or ERROR (env CQM_LOG_LEVEL; default WARNING)",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML file of settings (env CQM_CONFIG)")
    for name, text in COMMON.items():
        kind: Any = Path if name in ("data_dir", "tenants_file") else str
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cqm",
        description="contact-quality-monitor: streaming service-level and satisfaction figures "
        "for contact centers (Kafka → Faust → ClickHouse → Grafana).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="broker + worker + simulator (or a replayed file) in one go")
    _common(p)
    p.add_argument("--duration", type=float, default=60, help="seconds to simulate (default 60)")
    p.add_argument("--speed", type=float, default=120, help="simulated seconds per second (120)")
    p.add_argument("--replay", type=Path, metavar="FILE", help="process this JSON Lines file "
                   "instead of simulating; exit when all of it is stored")  # fmt: skip
    p.add_argument("--tenants", type=int, default=3, help="simulated tenants (default 3)")
    p.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")

    p = sub.add_parser("worker", help="the stream processor (production); restart it any time")
    _common(p)
    p.add_argument("--web-port", type=int, help="health/live HTTP port, 0 = off (default 6066)")

    p = sub.add_parser("broker", help="the embedded Kafka broker in the foreground")
    _common(p)
    p.add_argument("--port", type=int, default=9092, help="loopback port (default 9092)")

    p = sub.add_parser("migrate", help="apply ClickHouse schema migrations (deploy/clickhouse)")
    _common(p)

    p = sub.add_parser("simulate", help="generate realistic events to Kafka or a JSON Lines file")
    _common(p)
    p.add_argument("--output", type=Path, help="write JSON Lines here instead of to Kafka")
    p.add_argument("--start", help="first simulated instant, ISO 8601 (default: now - duration)")
    p.add_argument("--duration", type=float, default=3600, help="simulated seconds (3600)")
    p.add_argument("--speed", type=float, default=0, help="simulated seconds per real second "
                   "when sending to Kafka; 0 = as fast as possible (default)")  # fmt: skip
    p.add_argument("--tenants", type=int, default=3, help="number of tenants (default 3)")
    p.add_argument("--scale", type=float, default=1.0, help="traffic multiplier (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    p = sub.add_parser("replay", help="send a JSON Lines file of events to Kafka")
    _common(p)
    p.add_argument("file", type=Path, help="JSON Lines file, one event (or array) per line")
    p.add_argument("--envelope", type=int, default=1, help="pack up to N events per message")

    p = sub.add_parser("export", help="export stored figures")
    export = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    f = export.add_parser("figures", help="interval figures, one row per scope and interval")
    _common(f)
    f.add_argument("--interval", choices=["15", "30", "60", "day"], required=True)
    f.add_argument("--tenant", help="only this tenant")
    f.add_argument("--from", dest="start", help="interval_start ≥ this ISO 8601 instant")
    f.add_argument("--to", dest="end", help="interval_start < this ISO 8601 instant")
    f.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    f.add_argument("--output", type=Path, help="file to write (default standard output)")
    p = sub.add_parser("alerts", help="alert history and state")
    alerts = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    a = alerts.add_parser("list", help="the latest state of each alert, newest first")
    _common(a)
    a.add_argument("--tenant", help="only this tenant")
    a.add_argument("--state", choices=["pending", "firing", "resolved"], help="only this state")
    a.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    a.add_argument("--format", choices=["text", "jsonl"], default="text")

    p = sub.add_parser("config", help="tenant settings and alert rules")
    config = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    c = config.add_parser(
        "publish",
        help="validate a tenants file and publish it to the config topic; running workers "
        "apply it without a restart",
    )
    _common(c)
    c.add_argument("file", type=Path, help="tenants file (YAML or JSON), as for --tenants-file")
    c.add_argument("--tenant", help="publish only this tenant's entry")
    c.add_argument("--dry-run", action="store_true", help="validate only")

    anomaly_cli.add_parser(sub)
    return parser


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides = {name: getattr(args, name, None) for name in COMMON}
    overrides.update(extra)
    return load_settings(overrides, getattr(args, "config", None))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args, web_port=getattr(args, "web_port", None))
    except (ValidationError, ValueError) as exc:
        print(f"cqm: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # kafka-python warns about its own slow polls under load; that is not the user's problem
    logging.getLogger("kafka").setLevel(max(logging.ERROR, logging.getLogger().level))
    try:
        return int(COMMANDS[args.command](args, settings) or 0)
    except (UserError, StoreBusy, BrokerUnreachable) as exc:
        print(f"cqm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def parse_instant(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"{flag} {text!r} is not an ISO 8601 instant (e.g. 2026-11-22T00:00:00Z)"
        ) from None
    if value.tzinfo is None:
        raise UserError(f"{flag} {text!r} needs a UTC offset or Z (e.g. 2026-11-22T00:00:00Z)")
    return value.astimezone(UTC)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from streams.demo import run_demo

    if args.replay is not None and not args.replay.is_file():
        raise UserError(f"--replay {args.replay}: no such file")
    return run_demo(settings, args.duration, args.speed, args.replay, args.tenants, args.seed)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from streams.produce import check_broker
    from streams.worker import run_worker

    settings = settings.with_broker()
    check_broker(settings)
    return run_worker(settings)


def cmd_broker(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import time

    from streams.broker import EmbeddedBroker

    # stopped by SIGTERM too (a service manager, `kill`): leave through the `with`, which
    # stops the broker process instead of leaving it behind
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with EmbeddedBroker(settings.data_dir, port=args.port) as broker:
        print(f"embedded broker listening: {broker.url}   (Ctrl-C to stop)", flush=True)
        print(f"  export CQM_BROKER={broker.url}", flush=True)
        while True:
            time.sleep(3600)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.store import Store

    store = Store(settings.clickhouse_dsn, settings.clickhouse_database).open()
    try:
        applied = store.migrate()
    finally:
        store.close()
    where = settings.clickhouse_display
    print(f"applied {', '.join(applied)} to {where}" if applied else f"{where} is up to date")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from streams.simulator import default_config, simulate

    duration = timedelta(seconds=args.duration)
    start = parse_instant(args.start, "--start") if args.start else datetime.now(UTC) - duration
    config = default_config(start, duration, seed=args.seed, tenants=args.tenants, scale=args.scale)
    events = simulate(config)
    if args.output is not None:
        n = 0
        with args.output.open("w") as out:
            for event in events:
                out.write(json.dumps(event, separators=(",", ":")) + "\n")
                n += 1
        print(f"wrote {n} events to {args.output}", file=sys.stderr)
        return 0
    from streams.produce import sending
    from streams.replay import send_paced

    settings = settings.with_broker()
    with sending(settings) as sender:
        send_paced(sender, events, start, args.speed)
    print(f"sent {sender.sent} events to {settings.broker}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    from streams.produce import sending
    from streams.replay import send_file

    if not args.file.is_file():
        raise UserError(f"{args.file}: no such file")
    settings = settings.with_broker()
    with sending(settings, envelope=args.envelope) as sender:
        send_file(sender, args.file)
    print(
        f"sent {sender.sent} events in {sender.messages} messages to {settings.broker}",
        file=sys.stderr,
    )
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from processors.intervals import Interval
    from streams import export
    from streams.store import Store

    start = parse_instant(args.start, "--from") if args.start else None
    end = parse_instant(args.end, "--to") if args.end else None
    store = Store(settings.clickhouse_dsn, settings.clickhouse_database).open()
    try:
        store.migrate()
        stored = store.interval_figures(Interval(args.interval), args.tenant, start, end)
    finally:
        store.close()
    rows = export.export_rows(stored)
    if args.output is None:
        n = export.write(rows, sys.stdout, args.format)
    else:
        with args.output.open("w", newline="") as out:
            n = export.write(rows, out, args.format)
        print(f"wrote {n} rows to {args.output}", file=sys.stderr)
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from streams.store import Store

    store = Store(settings.clickhouse_dsn, settings.clickhouse_database).open()
    try:
        store.migrate()
        events = store.alerts(args.tenant, args.state, args.limit)
    finally:
        store.close()
    for e in events:
        if args.format == "jsonl":
            print(e.model_dump_json())
        else:
            print(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.state.value:<8} {e.severity.value:<8} "
                  f"{e.tenant_id:<10} {e.message}")  # fmt: skip
    if not events and args.format == "text":
        print("no alerts", file=sys.stderr)
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    from streams.settings import load_tenants_file

    try:
        tenants = load_tenants_file(args.file).tenants
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.tenant is not None:
        tenants = [t for t in tenants if t.tenant_id == args.tenant]
        if not tenants:
            raise UserError(f"{args.file} has no entry for tenant {args.tenant!r}")
    if args.dry_run:
        print(f"{args.file}: {len(tenants)} tenant(s) valid", file=sys.stderr)
        return 0
    from streams.produce import sending

    settings = settings.with_broker()
    with sending(settings) as sender:
        for tenant in tenants:
            value = tenant.model_dump_json().encode()
            sender.send_raw(settings.config_topic, tenant.tenant_id, value)
    names = ", ".join(t.tenant_id for t in tenants)
    print(f"published settings of {names} to {settings.config_topic}", file=sys.stderr)
    return 0


def cmd_anomaly(args: argparse.Namespace, settings: Settings) -> int:
    return anomaly_cli.run(args)


COMMANDS = {
    "demo": cmd_demo,
    "worker": cmd_worker,
    "broker": cmd_broker,
    "migrate": cmd_migrate,
    "simulate": cmd_simulate,
    "replay": cmd_replay,
    "export": cmd_export,
    "alerts": cmd_alerts,
    "config": cmd_config,
    "anomaly": cmd_anomaly,
}

if __name__ == "__main__":
    sys.exit(main())
