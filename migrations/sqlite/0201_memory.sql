-- Memory: what was tried for which failure and how it ended, and the JSON
-- shapes each scraper has seen. Times are milliseconds since the Unix epoch.

-- One row per repair attempt; its outcome is updated as the attempt moves on
-- (merged, then verified or reverted), so it counts once.
CREATE TABLE memory_outcomes (
    attempt_id TEXT PRIMARY KEY,
    scraper TEXT NOT NULL,
    error_class TEXT NOT NULL,
    upstream_host TEXT NOT NULL,
    strategy TEXT NOT NULL,
    before_value TEXT,
    after_value TEXT,
    outcome TEXT NOT NULL,
    success INTEGER,
    recorded_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX memory_outcomes_strategy ON memory_outcomes (strategy, error_class);
CREATE INDEX memory_outcomes_class_host ON memory_outcomes (error_class, upstream_host);

-- Every key path and JSON type seen in a scraper's responses.
CREATE TABLE memory_schema_paths (
    scraper TEXT NOT NULL,
    path TEXT NOT NULL,
    json_type TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    times_seen BIGINT NOT NULL,
    PRIMARY KEY (scraper, path, json_type)
);

CREATE TABLE memory_schema_observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scraper TEXT NOT NULL,
    observed_at BIGINT NOT NULL,
    digest TEXT NOT NULL,
    path_count BIGINT NOT NULL
);
CREATE INDEX memory_schema_observations_scraper ON memory_schema_observations (scraper, observed_at);
