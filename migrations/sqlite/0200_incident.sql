-- Incidents: the dedupe registry and storm groups. Times are milliseconds
-- since the Unix epoch (UTC), so both databases compare them the same way.

-- One row per claimed key; a claim is free again once expires_at has passed.
CREATE TABLE dedupe_claims (
    key TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dedupe_claims_expires_at ON dedupe_claims (expires_at);

-- A storm group: incidents with one cause inside a window, one repair attempt.
CREATE TABLE storm_groups (
    id TEXT PRIMARY KEY,
    error_class TEXT NOT NULL,
    upstream_host TEXT,
    fingerprint TEXT NOT NULL,
    leader_incident TEXT NOT NULL,
    leader_scraper TEXT,
    opened_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    member_count BIGINT NOT NULL
);

-- The keys a group is found by (fingerprint, host and class, cause); the
-- primary key makes opening a group for a key atomic across replicas.
CREATE TABLE storm_keys (
    key TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES storm_groups (id),
    expires_at BIGINT NOT NULL
);

CREATE TABLE storm_members (
    incident_id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES storm_groups (id),
    scraper TEXT,
    fingerprint TEXT NOT NULL,
    is_leader INTEGER NOT NULL,
    matched_by TEXT NOT NULL,
    joined_at BIGINT NOT NULL
);
CREATE INDEX storm_members_group_id ON storm_members (group_id);
