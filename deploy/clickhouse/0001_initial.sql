-- cqm schema, version 1: raw events, dead letters, stored interval figures.
-- Applied in order by `cqm migrate` (and by the tests); each file runs once per database.
-- Statements end with a semicolon at the end of a line.

-- Every valid event, once. A duplicate (same tenant_id + event_id) replaces its twin, and the
-- worker does not insert one it has already stored. Figure columns hold what the event adds to
-- the figures of its windows (processors/figures.py, FigureSums), judged by the settings in
-- force for its channel and queue when it was processed; interval figures are sums of them.
CREATE TABLE IF NOT EXISTS events
(
    tenant_id LowCardinality(String),
    event_id String,
    event_type LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    channel LowCardinality(String),
    queue_id LowCardinality(String),
    agent_id String,
    contact_id String,
    -- starts (UTC) of the event's 15/30/60-minute and day intervals in the tenant's time zone
    b15 DateTime('UTC'),
    b30 DateTime('UTC'),
    b60 DateTime('UTC'),
    bday DateTime('UTC'),
    answered UInt32,
    abandoned UInt32,
    short_abandoned UInt32,
    answered_in_sl UInt32,
    abandoned_in_sl UInt32,
    sl_num UInt32,
    sl_den UInt32,
    abandon_num UInt32,
    abandon_den UInt32,
    wait_sum_answered Float64,
    max_wait Nullable(Float64),
    ended UInt32,
    handle_sum Float64,
    fcr_resolved UInt32,
    fcr_known UInt32,
    csat_responses UInt32,
    csat_top2 UInt32,
    csat_sum UInt32,
    nps_responses UInt32,
    nps_promoters UInt32,
    nps_detractors UInt32,
    ces_responses UInt32,
    ces_sum UInt32,
    servqual_responses UInt32,
    sq_reliability_n UInt32,
    sq_reliability_gap_sum Int32,
    sq_responsiveness_n UInt32,
    sq_responsiveness_gap_sum Int32,
    sq_assurance_n UInt32,
    sq_assurance_gap_sum Int32,
    sq_empathy_n UInt32,
    sq_empathy_gap_sum Int32,
    sq_tangibles_n UInt32,
    sq_tangibles_gap_sum Int32,
    late UInt8,
    raw String CODEC(ZSTD(3)),
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    received_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

-- Input that is not a valid event: the original bytes, where it came from, and why.
CREATE TABLE IF NOT EXISTS dead_letters
(
    received_at DateTime64(3, 'UTC'),
    tenant_id LowCardinality(String),
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    batch_index Int32,
    reason String,
    raw String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(received_at)
ORDER BY (source_topic, source_partition, source_offset, batch_index)
SETTINGS non_replicated_deduplication_window = 1000;

-- Stored interval figures: upserts, the newest version wins (read with FINAL).
-- scope 'queue' rows carry channel and queue_id; 'channel' rows have queue_id = '';
-- 'tenant' rows have both empty.
CREATE TABLE IF NOT EXISTS interval_figures
(
    tenant_id LowCardinality(String),
    interval LowCardinality(String),
    scope LowCardinality(String),
    channel LowCardinality(String),
    queue_id LowCardinality(String),
    interval_start DateTime('UTC'),
    interval_end DateTime('UTC'),
    timezone LowCardinality(String),
    answered UInt64,
    abandoned UInt64,
    short_abandoned UInt64,
    answered_in_sl UInt64,
    abandoned_in_sl UInt64,
    sl_num UInt64,
    sl_den UInt64,
    abandon_num UInt64,
    abandon_den UInt64,
    wait_sum_answered Float64,
    max_wait Nullable(Float64),
    ended UInt64,
    handle_sum Float64,
    fcr_resolved UInt64,
    fcr_known UInt64,
    csat_responses UInt64,
    csat_top2 UInt64,
    csat_sum UInt64,
    nps_responses UInt64,
    nps_promoters UInt64,
    nps_detractors UInt64,
    ces_responses UInt64,
    ces_sum UInt64,
    servqual_responses UInt64,
    sq_reliability_n UInt64,
    sq_reliability_gap_sum Int64,
    sq_responsiveness_n UInt64,
    sq_responsiveness_gap_sum Int64,
    sq_assurance_n UInt64,
    sq_assurance_gap_sum Int64,
    sq_empathy_n UInt64,
    sq_empathy_gap_sum Int64,
    sq_tangibles_n UInt64,
    sq_tangibles_gap_sum Int64,
    offered UInt64,
    service_level_pct Nullable(Float64),
    abandon_rate_pct Nullable(Float64),
    asa_seconds Nullable(Float64),
    max_wait_seconds Nullable(Float64),
    aht_seconds Nullable(Float64),
    fcr_pct Nullable(Float64),
    csat_pct Nullable(Float64),
    csat_avg Nullable(Float64),
    nps Nullable(Float64),
    ces_avg Nullable(Float64),
    servqual_gap_reliability Nullable(Float64),
    servqual_gap_responsiveness Nullable(Float64),
    servqual_gap_assurance Nullable(Float64),
    servqual_gap_empathy Nullable(Float64),
    servqual_gap_tangibles Nullable(Float64),
    late_events UInt64,
    version UInt64,
    computed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(interval_start)
ORDER BY (tenant_id, interval, scope, channel, queue_id, interval_start);
