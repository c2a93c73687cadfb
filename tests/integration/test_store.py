"""The ClickHouse store on a real engine: migrations, idempotent writes, late events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors.intervals import Interval
from schemas.events import InputTopic
from schemas.tenants import TenantDirectory, TenantSettings
from streams.pipeline import Message, Pipeline, as_messages
from streams.simulator import default_config, simulate
from streams.store import Store

pytestmark = pytest.mark.integration

TOPICS = {f"cqm.{kind}": kind for kind in InputTopic}


@pytest.fixture
def store(clickhouse_url: str, database: str) -> Iterator[Store]:
    tenants = TenantDirectory([TenantSettings(tenant_id="acme", timezone="Europe/Paris")])
    s = Store(clickhouse_url, database, tenants).open()
    s.migrate()
    yield s
    s.close()


def messages(events: list[dict[str, Any]], first_offset: int = 0) -> list[Message]:
    return as_messages(events, first_offset=first_offset)


def figures(store: Store, interval: Interval) -> list[tuple[Any, ...]]:
    drop = {"version", "computed_at"}
    return sorted(
        tuple(v for k, v in row.items() if k not in drop)
        for row in store.interval_figures(interval)
    )


def day_of_events() -> list[dict[str, Any]]:
    start = datetime(2026, 10, 24, 20, 0, tzinfo=UTC)  # across the Paris fall-back night
    return list(simulate(default_config(start, timedelta(hours=12), seed=5, tenants=1, scale=0.2)))


def test_migrations_apply_once(store: Store) -> None:
    assert store.migrate() == []
    tables = {r[0] for r in store.client.query("SHOW TABLES").result_rows}
    assert {"events", "dead_letters", "interval_figures", "schema_migrations"} <= tables


def test_writing_the_same_batches_again_changes_nothing(store: Store) -> None:
    events = day_of_events()
    pipeline = Pipeline(store.tenants, TOPICS)
    half = len(events) // 2
    first = store.write(pipeline.prepare(messages(events[:half])))
    second = store.write(pipeline.prepare(messages(events[half:], half)))
    assert (first.duplicates, second.duplicates) == (0, 0)
    before = {i: figures(store, i) for i in Interval}
    assert all(before.values())

    # a redelivery after a crash: the same messages again, in other batch boundaries
    again = [store.write(pipeline.prepare(messages(part))) for part in (events[:100], events[100:])]
    assert [r.duplicates for r in again] == [100, len(events) - 100]
    assert not any(r.new for r in again)
    assert {i: figures(store, i) for i in Interval} == before
    [[count]] = store.client.query("SELECT count() FROM events FINAL").result_rows
    assert count == len(events)


def test_late_event_updates_its_stored_interval_and_is_counted(store: Store) -> None:
    events = day_of_events()
    answered = next(e for e in events if e["event_type"] == "contact.answered")
    pipeline = Pipeline(store.tenants, TOPICS)
    store.write(pipeline.prepare(messages(events)))
    hour = datetime.fromisoformat(answered["occurred_at"]).replace(
        minute=0, second=0, microsecond=0
    )

    def queue_hour() -> dict[str, Any]:
        [row] = [
            r for r in store.interval_figures(Interval.m60, "acme")
            if r["scope"] == "queue" and r["queue_id"] == answered["queue_id"]
            and r["interval_start"].replace(tzinfo=UTC) == hour
        ]  # fmt: skip
        return row

    before = queue_hour()
    late = dict(answered, event_id="late-1", wait_seconds=1.0)  # hours behind the watermark
    result = store.write(pipeline.prepare(messages([late], 10_000)))
    assert [row.late for row in result.new] == [True]
    after = queue_hour()
    assert after["answered"] == before["answered"] + 1
    assert after["late_events"] == before["late_events"] + 1
    assert after["version"] > before["version"]


def test_dead_letters_keep_bytes_position_and_reason(store: Store) -> None:
    pipeline = Pipeline(store.tenants, TOPICS)
    bad = Message("cqm.contacts", 3, 42, b"acme", b"\xffnot json")
    result = store.write(pipeline.prepare([bad]))
    assert result.dead_letters == 1
    rows = store.client.query(
        "SELECT tenant_id, source_partition, source_offset, reason, raw FROM dead_letters",
        query_formats={"String": "bytes"},
    ).result_rows
    assert rows == [(b"acme", 3, 42, b"not UTF-8 text", b"\xffnot json")]


def test_a_batch_larger_than_one_id_lookup_is_deduplicated_whole(store: Store) -> None:
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    events = [
        {
            "event_id": f"a-{n:06d}-" + "x" * 100,
            "event_type": "contact.abandoned",
            "tenant_id": "acme",
            "occurred_at": (t0 + timedelta(seconds=n)).isoformat(),
            "contact_id": f"c{n}",
            "channel": "voice",
            "queue_id": "q",
            "wait_seconds": 30,
        }
        for n in range(2500)
    ]  # fmt: skip  (2,500 ids of 110 characters: one IN list would pass ClickHouse's 256 KB)
    pipeline = Pipeline(store.tenants, TOPICS)
    assert len(store.write(pipeline.prepare(messages(events))).new) == 2500
    again = store.write(pipeline.prepare(messages(events)))
    assert (len(again.new), again.duplicates) == (0, 2500)


def test_storing_is_retried_until_clickhouse_takes_it(tmp_path: Path) -> None:
    from streams.app import Runtime
    from streams.settings import Settings

    runtime = Runtime(Settings(data_dir=tmp_path, broker="kafka://unused:1"))
    runtime.start()
    real, calls = runtime.store_batch, []

    def flaky(batch: Any, raised: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            raise ConnectionError("ClickHouse is restarting")
        return real(batch, raised)

    runtime.store_batch = flaky  # type: ignore[method-assign]
    batch = runtime.pipeline.prepare(messages(day_of_events()[:50]))
    result = asyncio.run(runtime.store_until_done(batch, []))
    assert len(result.new) == 50 and len(calls) == 3
    assert runtime.counters.store_failures == 2 and runtime.counters.last_store_error is None
    runtime.store.close()
