-- One row per repair attempt; its transitions are kept in order beside it.
CREATE TABLE repair_attempts (
    id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    scraper TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    branch TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX repair_attempts_by_fingerprint ON repair_attempts (repository, fingerprint);
CREATE INDEX repair_attempts_by_scraper ON repair_attempts (repository, scraper);

CREATE TABLE repair_attempt_transitions (
    attempt_id TEXT NOT NULL REFERENCES repair_attempts (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (attempt_id, seq)
);
