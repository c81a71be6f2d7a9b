-- Airlock store schema v2: pins of upstream MCP tools (tools/upstream).
-- Times are Unix milliseconds (0: unset).
CREATE TABLE upstream_pins (
	connection      TEXT NOT NULL,
	tool            TEXT NOT NULL,
	accepted_hash   TEXT NOT NULL DEFAULT '',
	accepted_by     TEXT NOT NULL DEFAULT '',
	accepted_at     BIGINT NOT NULL DEFAULT 0,
	seen_hash       TEXT NOT NULL,
	seen_definition TEXT NOT NULL,
	first_seen      BIGINT NOT NULL,
	last_seen       BIGINT NOT NULL,
	PRIMARY KEY (connection, tool)
);
