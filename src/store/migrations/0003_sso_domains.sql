-- Migration 3: SSO domains must be proven before they do anything, and plugins are bound to
-- organizations.

-- A claim of an email domain by an organization's SSO. Several organizations may claim the
-- same domain (so a squatter cannot block its owner), but only one claim per domain can be
-- verified. `token` is shown in the SSO settings and published by the domain's owner as a
-- DNS TXT record; it is not a secret.
CREATE TABLE sso_domain_claims (
    org_id          TEXT NOT NULL REFERENCES sso_connections(org_id) ON DELETE CASCADE,
    domain          TEXT NOT NULL,                 -- lower-case ASCII (IDN as punycode)
    token           TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
    verified_at     INTEGER,
    verified_by     TEXT,                          -- 'dns', 'admin:<user id>' or 'cli'
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (org_id, domain)
) WITHOUT ROWID;
CREATE UNIQUE INDEX sso_domain_claims_verified ON sso_domain_claims(domain) WHERE status = 'verified';
CREATE INDEX sso_domain_claims_domain ON sso_domain_claims(domain);

-- Domains configured before this migration were never proven: they start pending.
INSERT INTO sso_domain_claims (org_id, domain, token, status, created_at)
    SELECT org_id, domain, lower(hex(randomblob(16))), 'pending', CAST(strftime('%s', 'now') AS INTEGER)
    FROM sso_domains;
DROP TABLE sso_domains;

-- The configured plugins an organization may use (SSO, billing source), decided by an
-- instance administrator. No row: not allowed.
CREATE TABLE org_plugins (
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (org_id, plugin)
) WITHOUT ROWID;
