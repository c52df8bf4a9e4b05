-- Outcomes of repair attempts, the input of confidence calibration: the raw
-- score a proposal had and whether the fix held.
CREATE TABLE IF NOT EXISTS calibration_outcomes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id TEXT NOT NULL UNIQUE,
    raw_score REAL NOT NULL CHECK (raw_score >= 0 AND raw_score <= 1),
    outcome TEXT NOT NULL CHECK (outcome IN ('verified', 'reverted', 'rejected', 'failed')),
    success INTEGER NOT NULL CHECK (success IN (0, 1)),
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
