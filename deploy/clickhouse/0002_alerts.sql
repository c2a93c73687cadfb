-- cqm schema, version 2: alert history, webhook deliveries, tenant settings from cqm.config.

-- One row per alert transition (pending, firing, resolved): history and Grafana annotations.
CREATE TABLE IF NOT EXISTS alerts
(
    tenant_id LowCardinality(String),
    alert_key String,
    alert_id String,
    rule LowCardinality(String),
    state LowCardinality(String),
    severity LowCardinality(String),
    figure LowCardinality(String),
    value Nullable(Float64),
    threshold Float64,
    clear_threshold Float64,
    op LowCardinality(String),
    scope LowCardinality(String),
    channel LowCardinality(String),
    queue_id LowCardinality(String),
    window_seconds Float64,
    sample UInt64,
    started_at DateTime64(3, 'UTC'),
    at DateTime64(3, 'UTC'),
    message String,
    context String,
    link String,
    was_firing UInt8,
    recorded_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, alert_id, state);

-- The outcome of every webhook delivery; endpoints are redacted (webhook URLs hold secrets).
CREATE TABLE IF NOT EXISTS alert_deliveries
(
    tenant_id LowCardinality(String),
    alert_id String,
    alert_key String,
    state LowCardinality(String),
    endpoint String,
    format LowCardinality(String),
    status LowCardinality(String),
    attempts UInt32,
    last_error String,
    at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, at, alert_id);

-- Tenant settings accepted from the cqm.config topic; the newest version wins. The worker
-- loads them at start, so an update outlives restarts and beats the tenants file.
CREATE TABLE IF NOT EXISTS tenant_config
(
    tenant_id String,
    settings String,
    version UInt64,
    source String,
    accepted_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY tenant_id;
