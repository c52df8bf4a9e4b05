-- Schema bookkeeping starts here; each concept adds its own migration.
CREATE TABLE IF NOT EXISTS fixwright_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
