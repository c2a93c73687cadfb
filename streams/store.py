"""ClickHouse: migrations, the idempotent event sink, stored interval figures, and reads.

Blocking (clickhouse-connect); the worker calls it from one executor thread. Connect in
:meth:`Store.open`, never at construction, so building the app opens nothing.

Idempotence, end to end:
- an event already stored (same tenant_id + event_id) is not inserted again, and the table is a
  ReplacingMergeTree on that key, so even a racing duplicate collapses;
- a retried insert of the same block carries the same ``insert_deduplication_token``;
- interval figures are recomputed from the stored, deduplicated events of every interval a
  batch touched (duplicates included, so a crash between the two inserts heals on redelivery)
  and written as a new version that replaces the old one: upserts, never increments.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import clickhouse_connect

from processors.anomaly_watch import Finding, Scope
from processors.figures import CONTRIBUTING_TYPES, FIGURE_NAMES, SUM_FIELDS, FigureSums
from processors.intervals import Interval, IntervalCalendar, interval_end
from processors.rollup import IntervalKey, IntervalTotals, QueueSums, Wanted, roll_up
from schemas.alerts import AlertEvent
from schemas.tenants import TenantDirectory, TenantSettings
from streams.pipeline import Batch, EventRow

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "deploy" / "clickhouse"

EVENT_COLUMNS = (
    "tenant_id", "event_id", "event_type", "occurred_at", "channel", "queue_id", "agent_id",
    "contact_id", "b15", "b30", "b60", "bday", *SUM_FIELDS, "late", "raw", "source_topic",
    "source_partition", "source_offset", "received_at",
)  # fmt: skip
ID_LOOKUP_CHUNK = 1000  # ids of up to 128 characters: at most ~130 KB of SQL a query
ALERT_COLUMNS = (
    "tenant_id", "alert_key", "alert_id", "rule", "state", "severity", "figure", "value",
    "threshold", "clear_threshold", "op", "scope", "channel", "queue_id", "window_seconds",
    "sample", "started_at", "at", "message", "context", "link", "was_firing", "recorded_at",
    "agent_id",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "tenant_id", "alert_id", "alert_key", "state", "endpoint", "format", "status", "attempts",
    "last_error", "at",
)  # fmt: skip
DEAD_LETTER_COLUMNS = (
    "received_at", "tenant_id", "source_topic", "source_partition", "source_offset",
    "batch_index", "reason", "raw",
)  # fmt: skip
INTERVAL_COLUMNS = (
    "tenant_id", "interval", "scope", "channel", "queue_id", "interval_start", "interval_end",
    "timezone", *SUM_FIELDS, "offered", *FIGURE_NAMES, "late_events", "version", "computed_at",
)  # fmt: skip


ANOMALY_COLUMNS = (
    "tenant_id", "scope", "channel", "queue_id", "figure", "interval_start", "observed",
    "expected", "lower", "upper", "score", "since", "points", "sample", "computed_at",
)  # fmt: skip


class StoreBusy(RuntimeError):
    """The embedded engine's directory is in use by another process."""


@dataclass(frozen=True, slots=True)
class WriteResult:
    new: list[EventRow]
    duplicates: int
    dead_letters: int
    intervals_written: int


class Store:
    def __init__(self, dsn: str, database: str = "cqm", tenants: TenantDirectory | None = None):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
            raise ValueError(f"ClickHouse database name {database!r} is not a plain identifier")
        self.dsn = dsn
        self.database = database
        self.tenants = tenants or TenantDirectory()
        self._client: Any = None

    # -- connection and schema --------------------------------------------------------------

    def open(self) -> Store:
        if self._client is None:
            try:
                bootstrap = clickhouse_connect.get_client(dsn=self.dsn)
            except Exception as exc:
                if self.dsn.startswith("chdb:") and "lock" in str(exc).lower():
                    raise StoreBusy(
                        f"the embedded ClickHouse at {self.dsn.removeprefix('chdb://')} is open in "
                        "another process (a running `cqm worker` or `cqm demo`?); one process at "
                        "a time can use it: stop that one, or use a ClickHouse server "
                        "(--clickhouse-url https://…)"
                    ) from None
                raise
            bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            if self.dsn.startswith("chdb:"):
                self._client = bootstrap  # one chDB session per process: reuse it
                self._client.command(f"USE {self.database}")
            else:
                bootstrap.close()
                self._client = clickhouse_connect.get_client(dsn=self.dsn, database=self.database)
        return self

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("Store.open() was not called")
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def migrate(self, directory: Path = MIGRATIONS_DIR) -> list[str]:
        """Apply the versioned ``NNNN_name.sql`` files not applied yet; return their names."""
        self.client.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version String, applied_at "
            "DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY version"
        )
        done = {
            row[0] for row in self.client.query("SELECT version FROM schema_migrations").result_rows
        }
        applied = []
        for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            if path.stem in done:
                continue
            for statement in split_sql(path.read_text()):
                self.client.command(statement)
            self.client.insert(
                "schema_migrations",
                [[path.stem, datetime.now(UTC)]],
                column_names=["version", "applied_at"],
            )
            applied.append(path.stem)
        return applied

    # -- the sink -------------------------------------------------------------------------

    def write(self, batch: Batch) -> WriteResult:
        """Store a batch: new events, dead letters, then its intervals' figures, rewritten."""
        fresh = self._drop_stored(batch.rows)
        received_at = datetime.now(UTC)
        if fresh:
            self.client.insert(
                "events",
                [_event_values(row, received_at) for row in fresh],
                column_names=EVENT_COLUMNS,
                settings={"insert_deduplication_token": _token("e", fresh)},
            )
        if batch.dead_letters:
            self.client.insert(
                "dead_letters",
                [
                    [
                        received_at,
                        d.tenant_id,
                        d.source.topic,
                        d.source.partition,
                        d.source.offset,
                        -1 if d.index is None else d.index,
                        d.reason,
                        d.raw,
                    ]
                    for d in batch.dead_letters
                ],
                column_names=DEAD_LETTER_COLUMNS,
            )
        wanted: Wanted = {
            (row.event.tenant_id, interval, start)
            for row in batch.rows
            if row.event.event_type in CONTRIBUTING_TYPES
            for interval, start in row.starts.items()
        }
        written = self.rewrite_intervals(wanted)
        return WriteResult(fresh, len(batch.rows) - len(fresh), len(batch.dead_letters), written)

    def _drop_stored(self, rows: Sequence[EventRow]) -> list[EventRow]:
        """The rows whose (tenant_id, event_id) is neither stored nor earlier in the batch."""
        by_tenant: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            by_tenant[row.event.tenant_id].add(row.event.event_id)
        stored: set[tuple[str, str]] = set()
        for tenant_id, ids in by_tenant.items():
            ordered = sorted(ids)
            # a batch of envelopes can hold 100k+ ids: stay well under max_query_size (256 KB)
            for first in range(0, len(ordered), ID_LOOKUP_CHUNK):
                chunk = ordered[first : first + ID_LOOKUP_CHUNK]
                result = self.client.query(
                    f"SELECT event_id FROM events WHERE tenant_id = {_sql(tenant_id)} "
                    f"AND event_id IN {_sql_list(chunk)}"
                )
                stored.update((tenant_id, r[0]) for r in result.result_rows)
        fresh = []
        for row in rows:
            key = (row.event.tenant_id, row.event.event_id)
            if key not in stored:
                stored.add(key)
                fresh.append(row)
        return fresh

    def rewrite_intervals(self, wanted: Wanted) -> int:
        """Recompute the wanted intervals from stored data and write them as a new version.

        15/30/60-minute intervals are summed from the events of the local hours they lie in;
        a day is then summed from its stored 15-minute rows (which include this batch), so a
        batch costs an hour of events and a day of 15-minute rows, not a day of events.
        """
        if not wanted:
            return 0
        hours: dict[str, set[datetime]] = defaultdict(set)
        days: dict[str, set[datetime]] = defaultdict(set)
        for tenant_id, interval, start in wanted:
            if interval is Interval.m60:
                hours[tenant_id].add(start)
            elif interval is Interval.day:
                days[tenant_id].add(start)
        version, computed_at = time.time_ns(), datetime.now(UTC)
        short = roll_up(self._hour_sums(hours), {w for w in wanted if w[1] is not Interval.day})
        written = self._insert_intervals(short, version, computed_at)
        whole_days = roll_up(self._day_sums(days), {w for w in wanted if w[1] is Interval.day})
        return written + self._insert_intervals(whole_days, version, computed_at)

    def _insert_intervals(
        self, totals: dict[IntervalKey, IntervalTotals], version: int, computed_at: datetime
    ) -> int:
        rows = [
            self._interval_values(key, value, version, computed_at) for key, value in totals.items()
        ]
        for first in range(0, len(rows), 50_000):
            self.client.insert(
                "interval_figures", rows[first : first + 50_000], column_names=INTERVAL_COLUMNS
            )
        return len(rows)

    def _hour_sums(self, hours: dict[str, set[datetime]]) -> Iterable[QueueSums]:
        types = _sql_list(CONTRIBUTING_TYPES)
        for tenant_id, starts in hours.items():
            # the occurred_at bounds prune partitions (PARTITION BY month of occurred_at)
            low, high = min(starts), max(starts) + timedelta(hours=2)
            result = self.client.query(
                f"SELECT channel, queue_id, b15, b30, b60, {_AGGREGATES}, sum(late) AS late "
                f"FROM events FINAL WHERE tenant_id = {_sql(tenant_id)} "
                f"AND b60 IN {_sql_list(starts)} AND event_type IN {types} "
                f"AND occurred_at >= {_sql(low)} AND occurred_at < {_sql(high)} "
                "GROUP BY channel, queue_id, b15, b30, b60"
            )
            for row in result.result_rows:
                channel, queue_id, b15, b30, b60, *sums, late = row
                starts_of = {
                    Interval.m15: _utc(b15),
                    Interval.m30: _utc(b30),
                    Interval.m60: _utc(b60),
                }
                yield QueueSums(tenant_id, channel, queue_id, starts_of, _sums(sums), int(late))

    def _day_sums(self, days: dict[str, set[datetime]]) -> Iterable[QueueSums]:
        for tenant_id, starts in days.items():
            calendar = IntervalCalendar(self.tenants.get(tenant_id).zone)
            low, high = min(starts), max(starts) + timedelta(hours=26)
            result = self.client.query(
                f"SELECT channel, queue_id, interval_start, {_AGGREGATES}, sum(late_events) "
                f"FROM interval_figures FINAL WHERE tenant_id = {_sql(tenant_id)} "
                "AND interval = '15' AND scope = 'queue' "
                f"AND interval_start >= {_sql(low)} AND interval_start < {_sql(high)} "
                "GROUP BY channel, queue_id, interval_start"
            )
            for channel, queue_id, start, *sums, late in result.result_rows:
                day = calendar.start(_utc(start), Interval.day)
                if day in starts:
                    yield QueueSums(
                        tenant_id, channel, queue_id, {Interval.day: day}, _sums(sums), int(late)
                    )

    def _interval_values(
        self, key: IntervalKey, totals: IntervalTotals, version: int, computed_at: datetime
    ) -> list[Any]:
        zone_name = self.tenants.get(key.tenant_id).timezone
        end = interval_end(key.start, ZoneInfo(zone_name), key.interval)
        sums = totals.sums
        return [
            key.tenant_id, key.interval.value, key.scope, key.channel, key.queue_id, key.start,
            end, zone_name, *_sum_values(sums), sums.offered,
            *sums.figures().values(), totals.late_events, version, computed_at,
        ]  # fmt: skip

    # -- alerts and tenant settings ----------------------------------------------------------

    def write_alerts(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        now = datetime.now(UTC)
        rows = []
        for e in events:
            rows.append(
                [e.tenant_id, e.alert_key, e.alert_id, e.rule, e.state.value, e.severity.value,
                 e.figure, e.value, e.threshold, e.clear_threshold, e.op, e.scope.value, e.channel,
                 e.queue_id, e.window_seconds, e.sample, e.started_at, e.at, e.message,
                 json.dumps(e.context), e.link or "", int(e.was_firing), now, e.agent_id]
            )  # fmt: skip
        self.client.insert("alerts", rows, column_names=ALERT_COLUMNS)

    def write_deliveries(self, records: Sequence[Any]) -> None:
        if records:
            self.client.insert(
                "alert_deliveries",
                [
                    [
                        r.tenant_id,
                        r.alert_id,
                        r.alert_key,
                        r.state,
                        r.endpoint,
                        r.format,
                        r.status,
                        r.attempts,
                        r.last_error or "",
                        r.at,
                    ]
                    for r in records
                ],
                column_names=DELIVERY_COLUMNS,
            )

    def alerts(
        self, tenant_id: str | None = None, state: str | None = None, limit: int = 1000
    ) -> list[AlertEvent]:
        """The latest transition of each alert incident, newest first."""
        where = "" if tenant_id is None else f"WHERE tenant_id = {_sql(tenant_id)}"
        having = "" if state is None else f"WHERE state = {_sql(state)}"
        result = self.client.query(
            f"SELECT * FROM (SELECT * FROM alerts FINAL {where} "
            f"ORDER BY at DESC, indexOf(['pending', 'firing', 'resolved'], state) DESC "
            f"LIMIT 1 BY alert_id) {having} ORDER BY at DESC LIMIT {int(limit)}"
        )
        return [_alert_event(row) for row in result.named_results()]

    def save_tenant_config(self, tenant: TenantSettings, source: str) -> None:
        self.client.insert(
            "tenant_config",
            [
                [
                    tenant.tenant_id,
                    tenant.model_dump_json(),
                    time.time_ns(),
                    source,
                    datetime.now(UTC),
                ]
            ],
            column_names=["tenant_id", "settings", "version", "source", "accepted_at"],
        )

    def tenant_configs(self) -> list[TenantSettings]:
        result = self.client.query("SELECT settings FROM tenant_config FINAL")
        return [TenantSettings.model_validate_json(row[0]) for row in result.result_rows]

    # -- anomaly detectors ------------------------------------------------------------------

    def write_anomaly_scores(self, found: Sequence[Finding]) -> None:
        if not found:
            return
        now = datetime.now(UTC)
        rows = []
        for f in found:
            tenant_id, channel, queue_id = f.scope
            level = "queue" if queue_id else "channel" if channel else "tenant"
            since = None if f.since is None else datetime.fromtimestamp(f.since, UTC)
            rows.append(
                [tenant_id, level, channel, queue_id, f.figure,
                 datetime.fromtimestamp(f.interval_start, UTC), f.observed, f.expected, f.lower,
                 f.upper, f.score, since, f.points, f.sample, now]
            )  # fmt: skip
        self.client.insert("anomaly_scores", rows, column_names=ANOMALY_COLUMNS)

    def anomaly_scores(self, tenant_id: str, min_score: float = 0.0) -> list[dict[str, Any]]:
        result = self.client.query(
            "SELECT * FROM anomaly_scores FINAL WHERE tenant_id = %(tenant)s "
            "AND score >= %(score)s ORDER BY interval_start, figure, scope, channel, queue_id",
            parameters={"tenant": tenant_id, "score": min_score},
        )
        rows = list(result.named_results())
        for row in rows:
            for name in ("interval_start", "since", "computed_at"):
                if row[name] is not None:
                    row[name] = _utc(row[name])
        return rows

    def save_anomaly_states(self, states: Sequence[tuple[str, Scope, str, Any]]) -> None:
        """(tenant, scope, figure, JSON-able state) of detectors; the newest save wins."""
        if states:
            now = datetime.now(UTC)
            rows = [
                [scope[0], scope[1], scope[2], figure, json.dumps(state), now]
                for _, scope, figure, state in states
            ]
            self.client.insert(
                "anomaly_detectors",
                rows,
                column_names=["tenant_id", "channel", "queue_id", "figure", "state", "saved_at"],
            )

    def anomaly_states(self) -> Iterable[tuple[Scope, str, dict[str, Any]]]:
        result = self.client.query(
            "SELECT tenant_id, channel, queue_id, figure, state FROM anomaly_detectors FINAL"
        )
        for tenant_id, channel, queue_id, figure, state in result.result_rows:
            yield (tenant_id, channel, queue_id), figure, json.loads(state)

    # -- reads ----------------------------------------------------------------------------

    def recent_events(self, since: float) -> Iterable[tuple[str, str, str, FigureSums]]:
        """(tenant, topic, raw JSON, figure sums) of on-time events since ``since``, in time
        order: what the live view held when the worker stopped."""
        result = self.client.query(
            f"SELECT tenant_id, source_topic, raw, {', '.join(SUM_FIELDS)} FROM events FINAL "
            f"WHERE occurred_at >= {_sql(datetime.fromtimestamp(since, UTC))} AND late = 0 "
            "ORDER BY occurred_at"
        )
        for tenant_id, topic, raw, *sums in result.result_rows:
            yield tenant_id, topic, raw, _sums(sums)

    def watermarks(self) -> dict[str, datetime]:
        """The latest event time per (tenant, input topic), keyed "tenant/topic"."""
        result = self.client.query(
            "SELECT tenant_id, source_topic, max(occurred_at) FROM events "
            "GROUP BY tenant_id, source_topic"
        )
        return {f"{tenant}/{topic}": _utc(mark) for tenant, topic, mark in result.result_rows}

    def interval_figures(
        self,
        interval: Interval,
        tenant_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        where = ["interval = %(interval)s"]
        params: dict[str, Any] = {"interval": interval.value}
        if tenant_id is not None:
            where.append("tenant_id = %(tenant)s")
            params["tenant"] = tenant_id
        if start is not None:
            where.append("interval_start >= %(start)s")
            params["start"] = start.astimezone(UTC)
        if end is not None:
            where.append("interval_start < %(end)s")
            params["end"] = end.astimezone(UTC)
        result = self.client.query(
            f"SELECT * FROM interval_figures FINAL WHERE {' AND '.join(where)} "
            "ORDER BY tenant_id, interval_start, indexOf(['queue', 'channel', 'tenant'], scope), "
            "channel, queue_id",
            parameters=params,
        )
        return list(result.named_results())

    def counts(self) -> dict[str, dict[str, int]]:
        """Per tenant: stored events by type, dead letters and late events."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for tenant, event_type, n, late in self.client.query(
            "SELECT tenant_id, event_type, count(), sum(late) FROM events FINAL "
            "GROUP BY tenant_id, event_type"
        ).result_rows:
            out[tenant][event_type] = int(n)
            out[tenant]["events"] += int(n)
            out[tenant]["late"] += int(late)
        for tenant, n in self.client.query(
            "SELECT tenant_id, count() FROM dead_letters FINAL GROUP BY tenant_id"
        ).result_rows:
            out[tenant]["dead_letters"] = int(n)
        return {tenant: dict(values) for tenant, values in out.items()}


_sum_values = operator.attrgetter(*SUM_FIELDS)
_AGGREGATES = ", ".join(
    f"max({name}) AS {name}" if name == "max_wait" else f"sum({name}) AS {name}"
    for name in SUM_FIELDS
)


def _sums(values: Sequence[Any]) -> FigureSums:
    return FigureSums(*values)


def _sql(value: str | datetime) -> str:
    """A ClickHouse literal. (Binding 2,000 ids through the client costs more than the query.)"""
    if isinstance(value, datetime):
        return f"'{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_list(values: Iterable[str | datetime]) -> str:
    return "(" + ", ".join(_sql(v) for v in values) + ")"


def split_sql(text: str) -> list[str]:
    """The statements of a migration file: comments dropped, split at line-ending ';'."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]


def _event_values(row: EventRow, received_at: datetime) -> list[Any]:
    e = row.event
    sums = row.sums
    return [
        e.tenant_id, e.event_id, e.event_type, e.occurred_at, getattr(e, "channel", None) or "",
        getattr(e, "queue_id", None) or "", getattr(e, "agent_id", None) or "",
        getattr(e, "contact_id", None) or "", row.starts[Interval.m15], row.starts[Interval.m30],
        row.starts[Interval.m60], row.starts[Interval.day],
        *_sum_values(sums), int(row.late), row.raw,
        row.source.topic, row.source.partition, row.source.offset, received_at,
    ]  # fmt: skip


def _token(kind: str, rows: Sequence[EventRow]) -> str:
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row.event.tenant_id}\0{row.event.event_id}\n".encode())
    return f"{kind}-{digest.hexdigest()}"


def _alert_event(row: dict[str, Any]) -> AlertEvent:
    fields = {k: v for k, v in row.items() if k != "recorded_at"}
    fields["context"] = json.loads(row["context"] or "{}")
    fields["link"] = row["link"] or None
    fields["was_firing"] = bool(row["was_firing"])
    fields["started_at"] = _utc(row["started_at"])
    fields["at"] = _utc(row["at"])
    return AlertEvent.model_validate(fields)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
