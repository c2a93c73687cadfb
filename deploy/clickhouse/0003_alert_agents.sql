-- cqm schema, version 3: alerts on agent scopes carry the agent.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS agent_id String DEFAULT '' AFTER queue_id;
