-- Two-step sign-in: an authenticator app (RFC 6238) per person, its recovery codes, and the
-- short-lived challenges between a right password and the second step.

-- The authenticator secret is sealed under the server secret (ChaCha20-Poly1305, bound to the
-- user ID). `confirmed_at` is NULL while an enrolment waits for its first code; the factor
-- counts only once confirmed. `last_step` is the last RFC 6238 time step a code was accepted
-- for: a code (and any older one) is never accepted twice.
CREATE TABLE two_step_totp (
    user_id         TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    last_step       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Single-use recovery codes, stored as keyed hashes (HMAC-SHA-256 under the server secret).
CREATE TABLE two_step_recovery_codes (
    code_hash       BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    used_at         INTEGER
) WITHOUT ROWID;
CREATE INDEX two_step_recovery_codes_user ON two_step_recovery_codes(user_id);

-- A right password of an account with two-step sign-in gives a challenge, not a session:
-- its token (hash stored) is held by the browser (cookie) or API client and is finished by
-- a code within a few minutes; it is deleted when used, and after too many wrong codes.
CREATE TABLE two_step_challenges (
    token_hash      BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX two_step_challenges_user ON two_step_challenges(user_id);
