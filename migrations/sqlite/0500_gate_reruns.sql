-- Re-runs of the quality gates asked for on GitHub (a re-requested check run
-- or check suite), one row per delivery, so a delivery handled twice reports
-- once. `external_id` is chosen when the row is made and kept, so a re-run
-- resumed after a crash finishes the check runs it started.
CREATE TABLE gate_reruns (
    delivery_id TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    external_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'reported')),
    -- Milliseconds since the epoch.
    claimed_at INTEGER NOT NULL,
    finished_at INTEGER,
    outcome TEXT
);
