-- cqm schema, version 4: anomaly scores per quarter hour, and the detectors' learned state.

-- One row per scored quarter hour of one series (scope × figure): the score in [0, 1] and what
-- the detector expected, for dashboards and for explaining alerts after the fact.
CREATE TABLE IF NOT EXISTS anomaly_scores
(
    tenant_id LowCardinality(String),
    scope LowCardinality(String),
    channel LowCardinality(String),
    queue_id LowCardinality(String),
    figure LowCardinality(String),
    interval_start DateTime('UTC'),
    observed Float64,
    expected Float64,
    lower Float64,
    upper Float64,
    score Float64,
    since Nullable(DateTime('UTC')),
    points UInt32,
    sample UInt64,
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, figure, scope, channel, queue_id, interval_start);

-- The learned state of every detector (JSON, processors.anomaly.SeasonalDetector.to_dict); the
-- newest save wins. A restarted worker continues from it instead of warming up again.
CREATE TABLE IF NOT EXISTS anomaly_detectors
(
    tenant_id String,
    channel String,
    queue_id String,
    figure String,
    state String,
    saved_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(saved_at)
ORDER BY (tenant_id, channel, queue_id, figure);
