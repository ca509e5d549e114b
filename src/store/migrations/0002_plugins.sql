-- Migration 2: plugins (key-value storage), SSO connections and sign-ins, billing from a
-- plugin.

CREATE TABLE plugin_kv (
    plugin          TEXT NOT NULL,
    key             TEXT NOT NULL,
    value           BLOB NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (plugin, key)
) WITHOUT ROWID;

-- One SSO connection per organization: which plugin, and whether first sign-in joins.
CREATE TABLE sso_connections (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    join_role       TEXT CHECK (join_role IS NULL OR join_role IN ('admin', 'billing', 'member')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- An email domain belongs to at most one organization's SSO.
CREATE TABLE sso_domains (
    domain          TEXT PRIMARY KEY,              -- lower-case ASCII (IDN as punycode)
    org_id          TEXT NOT NULL REFERENCES sso_connections(org_id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_org ON sso_domains(org_id);

-- A sign-in in progress: keyed by a hash of the state; single use; expires.
CREATE TABLE sso_flows (
    state_hash      BLOB PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    flow_data       BLOB NOT NULL,                 -- sealed
    browser_hash    BLOB NOT NULL,                 -- hash of the binding cookie
    next            TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX sso_flows_expiry ON sso_flows(expires_at);

-- Which provider subject is which user.
CREATE TABLE user_identities (
    plugin          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER NOT NULL,
    PRIMARY KEY (plugin, subject)
);
CREATE INDEX user_identities_user ON user_identities(user_id);

-- Billing data served by a plugin instead of the stored profile and invoices.
CREATE TABLE billing_sources (
    org_id          TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    updated_at      INTEGER NOT NULL
);
