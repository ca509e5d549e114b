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

CREATE TABLE organizations (
    id              TEXT PRIMARY KEY,              -- org_…
    name            TEXT NOT NULL,
    slug            TEXT NOT NULL UNIQUE,
    features        TEXT NOT NULL DEFAULT '{}',    -- JSON object: explicit feature switches
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE companies (
    id              TEXT PRIMARY KEY,              -- cmp_…
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    slug            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org_id, slug)
);
CREATE INDEX companies_org ON companies(org_id, id);

-- The admin team: organization role + company access (all, or the rows below).
CREATE TABLE org_members (
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'billing', 'member')),
    all_companies   INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX org_members_user ON org_members(user_id);
CREATE INDEX org_members_all ON org_members(org_id, all_companies, user_id);
CREATE INDEX org_members_role ON org_members(org_id, role);

CREATE TABLE org_member_companies (
    org_id          TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    company_id      TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, user_id, company_id),
    FOREIGN KEY (org_id, user_id) REFERENCES org_members(org_id, user_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX org_member_companies_company ON org_member_companies(company_id, user_id);

-- Direct company assignments.
CREATE TABLE company_members (
    company_id      TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (company_id, user_id)
) WITHOUT ROWID;
CREATE INDEX company_members_user ON company_members(user_id);

CREATE TABLE sites (
    id              TEXT PRIMARY KEY,              -- site_…
    company_id      TEXT NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    name            TEXT NOT NULL,
    address         TEXT NOT NULL DEFAULT '',
    timezone        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX sites_company ON sites(company_id, id);

CREATE TABLE data_preferences (
    company_id      TEXT PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    units           TEXT NOT NULL,
    timezone        TEXT NOT NULL,
    currency        TEXT NOT NULL,
    date_format     TEXT NOT NULL,
    retention_days  INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE data_repositories (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    location        TEXT NOT NULL,
    region          TEXT,
    retention_days  INTEGER NOT NULL,
    credentials     BLOB,                          -- AEAD-sealed JSON; never returned
    updated_at      INTEGER NOT NULL
);

CREATE TABLE billing_profiles (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    legal_name      TEXT NOT NULL,
    billing_email   TEXT NOT NULL,
    address         TEXT NOT NULL,
    tax_id          TEXT,
    plan            TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,              -- ivc_…
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    number          TEXT NOT NULL,
    issued_on       TEXT NOT NULL,                 -- YYYY-MM-DD
    amount_cents    INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void')),
    url             TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (org_id, number)
);
CREATE INDEX invoices_org ON invoices(org_id, issued_on, id);

-- Audit events outlive the organization they describe (no cascade).
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,          -- evt_…
    org_id          TEXT NOT NULL,
    actor_type      TEXT NOT NULL,                 -- user | api_key | operator
    actor_id        TEXT,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    ip              TEXT,
    details         TEXT NOT NULL DEFAULT '{}',    -- JSON: changed fields, never secret values
    created_at      INTEGER NOT NULL
);
CREATE INDEX audit_events_org ON audit_events(org_id, seq);

-- Organization API keys. Only the public ID and an HMAC-SHA-256 of the secret are stored.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,              -- key_… (its body is the public part of the key)
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    scopes          TEXT NOT NULL,                 -- space-separated
    secret_hash     BLOB NOT NULL,
    created_by      TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER,
    use_count       INTEGER NOT NULL DEFAULT 0,
    revoked_at      INTEGER,
    rotated_from    TEXT
);
CREATE INDEX api_keys_org ON api_keys(org_id, id);

-- Email-bound invitations to an organization (role + company access) or to one company.
CREATE TABLE invitations (
    id              TEXT PRIMARY KEY,              -- inv_…
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    company_id      TEXT REFERENCES companies(id) ON DELETE CASCADE,   -- NULL: organization invitation
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    all_companies   INTEGER NOT NULL DEFAULT 0,
    company_ids     TEXT NOT NULL DEFAULT '[]',    -- JSON list when not all_companies
    inviter_id      TEXT REFERENCES users(id) ON DELETE SET NULL,
    inviter_name    TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'revoked')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,              -- pending and past this: expired
    accepted_at     INTEGER,
    accepted_by     TEXT,
    revoked_at      INTEGER
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations(org_id, coalesce(company_id, ''), email)
    WHERE status = 'pending';
CREATE INDEX invitations_org ON invitations(org_id, id);

-- Links replaced by a resend or re-address: they answer "no longer valid", not "not found".
CREATE TABLE invitation_retired_tokens (
    token_hash      BLOB PRIMARY KEY,
    invitation_id   TEXT NOT NULL REFERENCES invitations(id) ON DELETE CASCADE
) WITHOUT ROWID;

-- The persistent outbox. Bodies carry live links, so they are sealed under the server secret
-- and erased once delivered; the status metadata stays.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    template        TEXT NOT NULL,
    sealed_body     BLOB,                          -- sealed JSON {text, html}; NULL once delivered
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'held')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    invitation_id   TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_invitation ON outbox(invitation_id);

CREATE TABLE password_resets (
    token_hash      BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
) WITHOUT ROWID;
CREATE INDEX password_resets_user ON password_resets(user_id);

CREATE TABLE email_verifications (
    token_hash      BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
) WITHOUT ROWID;
