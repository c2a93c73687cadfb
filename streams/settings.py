"""One frozen settings object, built once at start-up from flags, ``CQM_*`` variables or a file.

Precedence: command-line flags, then environment variables, then the YAML/JSON file named by
``--config`` / ``CQM_CONFIG``, then the defaults below. The names are the same everywhere:
``--clickhouse-url`` = ``CQM_CLICKHOUSE_URL`` = ``clickhouse_url:`` in the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.events import InputTopic
from schemas.tenants import TenantDirectory, TenantsFile, explain_tenants_file

DEFAULT_BROKER = "kafka://127.0.0.1:9092"  # where `cqm broker` listens unless told otherwise


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CQM_", frozen=True, extra="forbid")

    broker: str | None = Field(
        default=None,
        description="Kafka bootstrap address, kafka://HOST:PORT[,HOST:PORT]; "
        "unset = start the embedded broker",
    )
    clickhouse_url: SecretStr | None = Field(
        default=None,
        description="ClickHouse: http(s)://user:password@host:8123/database, or chdb:///path for "
        "the embedded engine; unset = chdb://<data_dir>/clickhouse",
    )
    clickhouse_database: str = "cqm"
    data_dir: Path = Path(".cqm")
    topic_prefix: str = "cqm."
    partitions: int = Field(default=8, ge=1, le=1024)
    tenants_file: Path | None = None
    app_id: str = "cqm"
    batch_max: int = Field(default=2000, ge=1)
    batch_seconds: float = Field(default=0.25, gt=0)
    store_retry_max_seconds: float = Field(
        default=30, gt=0, description="longest pause between retries while ClickHouse fails"
    )
    max_message_bytes: int = Field(default=1_000_000, ge=1024)
    live_window_seconds: float = Field(default=900, gt=0)
    live_clock: Literal["wall", "event"] = "wall"
    anomaly_grace_seconds: float = Field(
        default=60,
        ge=0,
        description="how long after its end a quarter hour still takes events before its "
        "anomaly detectors score it",
    )
    anomaly_quiet_seconds: float = Field(
        default=300,
        gt=0,
        description="with no event from a tenant for this long, its quarter hours are scored "
        "on the wall clock (a silent tenant is news too)",
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        description="longest a worker's fetch waits for data; Tansu always waits this long",
    )
    session_timeout_seconds: float = Field(
        default=10,
        gt=1,
        description="consumer-group session timeout: how long a dead worker keeps its "
        "partitions; Tansu also holds a group join for about half of it",
    )
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_host: str = "127.0.0.1"
    dashboard_url: str | None = Field(
        default=None,
        description="link put in alerts, with {tenant}, {channel}, {queue}, {from_ms}, {to_ms}, "
        "e.g. https://grafana/d/cqm-queue?var-tenant={tenant}&var-queue={queue}&from={from_ms}",
    )
    log_level: str = "WARNING"

    @field_validator("broker")
    @classmethod
    def _kafka_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("kafka://"):
            raise ValueError(
                f"--broker / CQM_BROKER must look like kafka://HOST:PORT, got {value!r}"
            )
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("http", "https", "chdb", "clickhouse"):
            raise ValueError(
                "--clickhouse-url / CQM_CLICKHOUSE_URL must be http(s)://… or chdb:///path, "
                f"got a {scheme or 'schemeless'} URL"
            )
        return value

    # -- derived values -------------------------------------------------------------------

    def with_broker(self, url: str | None = None) -> Settings:
        """These settings with a broker address: ``url``, the configured one, or the default."""
        return self.model_copy(update={"broker": url or self.broker or DEFAULT_BROKER})

    @property
    def clickhouse_dsn(self) -> str:
        if self.clickhouse_url is not None:
            return self.clickhouse_url.get_secret_value()
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse_dsn.startswith("chdb:")

    @property
    def clickhouse_display(self) -> str:
        """The ClickHouse URL without its password, for logs and summaries."""
        parts = urlsplit(self.clickhouse_dsn)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return parts._replace(netloc=netloc).geturl()
        return self.clickhouse_dsn

    def topic(self, kind: InputTopic | str) -> str:
        return f"{self.topic_prefix}{kind}"

    @property
    def input_topics(self) -> dict[str, InputTopic]:
        return {self.topic(kind): kind for kind in InputTopic}

    @property
    def deadletter_topic(self) -> str:
        return self.topic("deadletter")

    @property
    def alerts_topic(self) -> str:
        return self.topic("alerts")

    @property
    def config_topic(self) -> str:
        return self.topic("config")

    def tenants(self) -> TenantDirectory:
        if self.tenants_file is None:
            return TenantDirectory()
        return TenantDirectory(load_tenants_file(self.tenants_file).tenants)


def load_tenants_file(path: Path) -> TenantsFile:
    """Read and validate a tenants file; errors name the file and the entry."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"cannot read tenants file {path}: {exc.strerror}") from None
    data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    try:
        return TenantsFile.model_validate(data or {})
    except ValidationError as exc:
        detail = explain_tenants_file(exc, data)
        raise ValueError(f"tenants file {path} is not valid:\n{detail}") from None


def load_settings(overrides: dict[str, Any], config_file: Path | None = None) -> Settings:
    """Settings from flags (``overrides``; None means "not given"), environment and file."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if config_file is not None:
        try:
            from_file = yaml.safe_load(config_file.read_text()) or {}
        except OSError as exc:
            raise ValueError(f"cannot read config file {config_file}: {exc.strerror}") from None
        if not isinstance(from_file, dict):
            raise ValueError(f"config file {config_file} must hold a mapping of setting: value")
        # the file ranks below the environment: keep only what no CQM_ variable sets
        below_env = {k: v for k, v in from_file.items() if f"CQM_{k.upper()}" not in os.environ}
        given = {**below_env, **given}
    return Settings(**given)
