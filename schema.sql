-- tenantry schema, version 1.
-- This file is the schema of a fresh database. Later changes are appended as numbered
-- migrations in src/store/migrations.rs; this file is never edited in place after release.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,              -- usr_…
    email           TEXT NOT NULL UNIQUE,          -- normalised: trimmed, lower-cased, IDN as ASCII
    name            TEXT NOT NULL,
    password_hash   TEXT,                          -- Argon2id PHC string; NULL for SSO users
    auth            TEXT NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'sso')),
    sso_provider    TEXT,
    email_verified  INTEGER NOT NULL DEFAULT 0,
    is_instance_admin INTEGER NOT NULL DEFAULT 0,
    disabled        INTEGER NOT NULL DEFAULT 0,
    locale          TEXT NOT NULL DEFAULT 'en',
    timezone        TEXT NOT NULL DEFAULT 'UTC',
    theme           TEXT NOT NULL DEFAULT 'system' CHECK (theme IN ('system', 'light', 'dark')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY,              -- HMAC-SHA-256 of the session token
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,              -- absolute expiry
    csrf_token      TEXT NOT NULL                  -- per-session form token
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);

-- One-time setup token for the first instance admin (hash only).
CREATE TABLE setup_tokens (
    token_hash      BLOB PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    used_at         INTEGER
) WITHOUT ROWID;
