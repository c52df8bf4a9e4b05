-- Bodies live apart from the status row. Leasing and completing rewrite a
-- delivery's row; when the row carried the body, every lease and completion
-- rewrote the body too, tripling what the write-ahead log had to hold.
CREATE TABLE inbox_body (
    delivery_id TEXT PRIMARY KEY,
    body_zstd   BLOB NOT NULL
);
INSERT INTO inbox_body (delivery_id, body_zstd)
    SELECT delivery_id, body_zstd FROM inbox WHERE body_zstd IS NOT NULL;
ALTER TABLE inbox DROP COLUMN body_zstd;
