-- Airlock store schema v1: grants and approvals, votes, the journal with
-- its hash chain, checkpoints and bookkeeping. Times of requests are Unix
-- milliseconds (0: unset); journal times are fixed-width RFC 3339 text,
-- hashed exactly as stored.
CREATE TABLE requests (
	id            TEXT PRIMARY KEY,
	kind          TEXT NOT NULL,
	subject       TEXT NOT NULL,
	groups        TEXT NOT NULL,
	connection    TEXT NOT NULL,
	access        TEXT NOT NULL,
	reason        TEXT NOT NULL,
	status        TEXT NOT NULL,
	rule          TEXT NOT NULL,
	approvers     TEXT NOT NULL,
	min_approvals INTEGER NOT NULL,
	duration_ms   BIGINT NOT NULL,
	tool          TEXT NOT NULL,
	digest        TEXT NOT NULL,
	arguments     BYTEA,
	created_at    BIGINT NOT NULL,
	decide_by     BIGINT NOT NULL,
	decided_at    BIGINT NOT NULL,
	expires_at    BIGINT NOT NULL,
	used_at       BIGINT NOT NULL,
	revoked_at    BIGINT NOT NULL,
	revoked_by    TEXT NOT NULL,
	note          TEXT NOT NULL,
	updated_at    BIGINT NOT NULL
);
CREATE INDEX requests_subject ON requests(subject, connection, status);
CREATE INDEX requests_digest ON requests(digest) WHERE digest <> '';
CREATE INDEX requests_status ON requests(status, updated_at);
CREATE INDEX requests_updated ON requests(updated_at);

CREATE TABLE votes (
	request_id TEXT NOT NULL REFERENCES requests(id),
	approver   TEXT NOT NULL,
	approve    BOOLEAN NOT NULL,
	reason     TEXT NOT NULL,
	time       BIGINT NOT NULL,
	PRIMARY KEY (request_id, approver)
);

CREATE TABLE journal (
	seq       BIGINT PRIMARY KEY,
	call_id   TEXT NOT NULL,
	type      TEXT NOT NULL,
	time      TEXT NOT NULL,
	data      BYTEA NOT NULL,
	prev_hash TEXT NOT NULL,
	hash      TEXT NOT NULL
);
CREATE INDEX journal_call_id ON journal(call_id);
CREATE INDEX journal_started ON journal(seq) WHERE type = 'started';

CREATE TABLE journal_checkpoints (
	id   BIGSERIAL PRIMARY KEY,
	seq  BIGINT NOT NULL,
	time TEXT NOT NULL,
	data TEXT NOT NULL
);

CREATE TABLE journal_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
