-- Instance-wide values the server records for the CLI and other processes sharing the data
-- directory (e.g. the public URL the running server builds links with).
CREATE TABLE instance_settings (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
