-- Passkeys (WebAuthn): several per person, each a second factor and a password-less sign-in;
-- and the short-lived state of a ceremony between its two requests.

-- `credential_sealed` is the credential as webauthn-rs keeps it (public key, counter, …),
-- sealed under the server secret bound to the passkey ID: the public key is not secret, but
-- the row stays opaque. `credential_id` is the authenticator's ID of it (unique: one passkey
-- belongs to one account), used to find it at sign-in.
CREATE TABLE passkeys (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id       BLOB NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    credential_sealed   BLOB NOT NULL,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A started ceremony (registration, second step, password-less sign-in): its token (hash
-- stored) goes to the browser or API client with the options and comes back with the
-- authenticator's answer. The state (sealed) is used once: the row is deleted by the first
-- answer, right or wrong, and is worth nothing after `expires_at` (5 minutes).
-- `user_id`: the person registering or signing in (NULL for a password-less sign-in, where
-- the passkey names the account); `bound_to`: the hash of the two-step challenge a second
-- step belongs to.
CREATE TABLE passkey_ceremonies (
    token_hash      BLOB PRIMARY KEY,
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users(id) ON DELETE CASCADE,
    bound_to        BLOB,
    state_sealed    BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX passkey_ceremonies_user ON passkey_ceremonies(user_id);
