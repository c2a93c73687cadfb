"""The proof: a simulated multi-tenant day, disordered, duplicated, late and partly broken,
through the real broker, the real worker and ClickHouse, equals an independent recomputation."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.tenants import TenantDirectory, TenantsFile
from streams.simulator import default_config, disorder, simulate
from streams.store import Store
from tests.integration.helpers import cqm_env, export_figures, run_cqm, write_jsonl
from tests.oracle import compare, recompute

pytestmark = pytest.mark.integration

TENANTS_YAML = """
tenants:
  - tenant_id: acme
    timezone: Europe/Paris
    channels: {chat: {sl_formula: all_offered, sl_threshold_seconds: 45}}
    queues: {orders: {sl_formula: answered_only}}
  - tenant_id: globex
    timezone: Asia/Kathmandu
    sl_formula: abandons_in_threshold_met
    queues: {care: {sl_formula: exclude_abandons_in_threshold, short_abandon_seconds: 10}}
  - tenant_id: initech
    timezone: America/New_York
    short_abandon_seconds: 8
"""

# Inputs that are not valid events; each must land in dead letters, none may stop the worker.
BROKEN_LINES = [
    "{this is not json",
    json.dumps({"event_id": "x1", "event_type": "contact.answered", "tenant_id": "acme",
                "occurred_at": "2026-03-28T23:00:00", "contact_id": "c", "channel": "voice",
                "queue_id": "billing", "agent_id": "a", "wait_seconds": 3}),  # naive time
    json.dumps({"event_id": "x2", "event_type": "contact.abandoned", "tenant_id": "ACME!",
                "occurred_at": "2026-03-28T23:00:00Z", "contact_id": "c", "channel": "voice",
                "queue_id": "billing", "wait_seconds": 3}),  # bad tenant
    json.dumps({"event_id": "x3", "event_type": "contact.abandoned", "tenant_id": "acme",
                "occurred_at": "2026-03-28T23:00:00Z", "contact_id": "c", "channel": "voice",
                "queue_id": "billing", "wait_seconds": -4}),  # negative wait
    json.dumps({"event_id": "x4", "event_type": "contact.vanished", "tenant_id": "acme",
                "occurred_at": "2026-03-28T23:00:00Z"}),  # unknown type
    json.dumps({"event_id": "x5", "event_type": "survey.response", "tenant_id": "globex",
                "occurred_at": "2026-03-28T23:00:00Z", "csat": 9}),  # out of range
]  # fmt: skip


def build_day(tmp_path: Path) -> tuple[Path, list[dict[str, Any]], dict[str, int]]:
    """A day across the Paris spring-forward change, disordered, plus broken input and a
    batch envelope with one bad element. Returns the file, the valid events and the counts."""
    start = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    config = default_config(start, timedelta(hours=24), seed=7, scale=0.25)
    clean = list(simulate(config))
    arriving = disorder(clean, seed=7, duplicate_share=0.03, late_share=0.02)
    answered = [e for e in clean if e["event_type"] == "contact.answered"]
    # a batch envelope (one message, a JSON array) of contact events, one element bad
    envelope = [dict(e, event_id=f"env-{n}-{e['event_id']}") for n, e in enumerate(answered[:3])]
    bad_element = dict(answered[3], event_id="env-bad", wait_seconds=-1)
    lines: list[Any] = list(arriving)
    lines.insert(len(lines) // 3, json.dumps([*envelope, bad_element]))
    for n, line in enumerate(BROKEN_LINES):
        lines.insert((n + 1) * len(lines) // (len(BROKEN_LINES) + 1), line)
    path = write_jsonl(tmp_path / "day.jsonl", lines)
    valid = [*arriving, *envelope]
    unique = {(e["tenant_id"], e["event_id"]) for e in valid}
    counts = {
        "received": len(arriving) + len(envelope) + 1 + len(BROKEN_LINES),
        "unique": len(unique),
        "duplicates": len(valid) - len(unique),
        "dead": len(BROKEN_LINES) + 1,
    }
    return path, valid, counts


def test_replayed_day_equals_independent_recomputation(
    tmp_path: Path,
    isolated: dict[str, str],
    clickhouse_url: str,
    database: str,
) -> None:
    path, valid, counts = build_day(tmp_path)
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(TENANTS_YAML)
    env = cqm_env(
        **isolated,
        tenants_file=str(tenants_file),
    )

    demo = run_cqm(["demo", "--replay", str(path)], env, timeout=600)

    # every input accounted for, in the summary a person reads
    match = re.search(
        r"received ([\d,]+) = stored ([\d,]+) \+ duplicates ([\d,]+) \+ dead letters ([\d,]+)",
        demo.stdout,
    )
    assert match, demo.stdout
    received, stored, duplicates, dead = (int(g.replace(",", "")) for g in match.groups())
    assert (received, stored, duplicates, dead) == (
        counts["received"], counts["unique"], counts["duplicates"], counts["dead"],
    )  # fmt: skip
    for tenant in ("acme", "globex", "initech"):
        assert re.search(rf"^{tenant}\s+\d{{4}}-\d\d-\d\d\s+[\d,]+", demo.stdout, re.M), demo.stdout

    tenants = TenantDirectory(
        TenantsFile.model_validate(__import__("yaml").safe_load(TENANTS_YAML)).tenants
    )
    expected = recompute(valid, tenants)
    for interval in ("15", "30", "60", "day"):
        rows = export_figures(env, interval)
        wanted = {k: v for k, v in expected.items() if k[0] == interval}
        assert rows, f"no {interval} rows exported"
        assert compare(rows, wanted) == [], f"interval {interval}"

    # the broken input is kept with its reason and position, nothing else is
    store = Store(clickhouse_url, database).open()
    try:
        dead_rows = store.client.query(
            "SELECT reason, source_topic, source_offset, raw FROM dead_letters FINAL",
            query_formats={"String": "bytes"},
        ).result_rows
    finally:
        store.close()
    reasons = sorted(r[0].decode() for r in dead_rows)
    assert len(reasons) == counts["dead"]
    assert any("needs a UTC offset" in r for r in reasons)
    assert any(r.startswith("batch element 3: contact.answered 'env-bad'") for r in reasons)
    assert any(r[3] == b"{this is not json" for r in dead_rows)
