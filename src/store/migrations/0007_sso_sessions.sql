-- Single sign-on, 2.1: what signing out at the identity provider needs, kept per session
-- (sealed: it holds the provider's ID token), and the address a sign-in was started for
-- (so a refusal page can offer "Use another account" for it).
CREATE TABLE sso_sessions (
    token_hash      BLOB PRIMARY KEY REFERENCES sessions(token_hash) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    plugin          TEXT NOT NULL,
    sign_out_data   BLOB NOT NULL,                 -- sealed (context `sso-sign-out`)
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE sso_flows ADD COLUMN login_hint TEXT;
