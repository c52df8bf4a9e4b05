-- Outcomes of repair attempts, the input of confidence calibration: the raw
-- score a proposal had and whether the fix held.
CREATE TABLE IF NOT EXISTS calibration_outcomes (
    id BIGSERIAL PRIMARY KEY,
    attempt_id TEXT NOT NULL UNIQUE,
    raw_score DOUBLE PRECISION NOT NULL CHECK (raw_score >= 0 AND raw_score <= 1),
    outcome TEXT NOT NULL CHECK (outcome IN ('verified', 'reverted', 'rejected', 'failed')),
    success BOOLEAN NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
