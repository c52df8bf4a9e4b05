-- The webhook inbox: every verified delivery, stored before it is acknowledged.
-- Times are Unix milliseconds so both backends share one representation.
-- status: queued (waiting or leased; leased items have visible_at in the future),
-- done, dead (tries exhausted, last_error says why), rejected (signed but unusable).
CREATE TABLE inbox (
    delivery_id     TEXT PRIMARY KEY,
    event           TEXT NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'done', 'dead', 'rejected')),
    tries           BIGINT NOT NULL DEFAULT 0,
    received_at     BIGINT NOT NULL,
    visible_at      BIGINT NOT NULL,
    lease_token     TEXT,
    last_error      TEXT,
    finished_at     BIGINT,
    body_len        BIGINT NOT NULL,
    body_zstd       BYTEA
);
CREATE INDEX inbox_ready ON inbox (status, visible_at);
CREATE INDEX inbox_installation ON inbox (installation_id);
CREATE INDEX inbox_received ON inbox (received_at);

-- What the envelope recorder saw of each processed delivery (one row per delivery,
-- however often it is handled).
CREATE TABLE inbox_envelope (
    delivery_id     TEXT PRIMARY KEY,
    event           TEXT NOT NULL,
    action          TEXT,
    installation_id BIGINT,
    sender_login    TEXT,
    sender_type     TEXT,
    repository      TEXT,
    from_app        BOOLEAN NOT NULL,
    recorded_at     BIGINT NOT NULL
);
