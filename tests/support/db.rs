//! Reading and seeding a server's SQLite file directly, for what the API does not show (the
//! outbox) or cannot do in a test (a session for an account with no password).

use std::path::Path;
use std::time::Duration;

/// The server's database in `data_dir`, waiting up to 10 s for a busy writer.
pub fn open(data_dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(data_dir.join("tenantry.db"))
        .unwrap_or_else(|e| panic!("open {}/tenantry.db: {e}", data_dir.display()));
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// How many outbox rows (queued, sent or failed) go to `to` with `template`.
pub fn outbox_count(data_dir: &Path, to: &str, template: &str) -> i64 {
    open(data_dir)
        .query_row(
            "SELECT count(*) FROM outbox WHERE recipient = ?1 AND template = ?2",
            rusqlite::params![to, template],
            |r| r.get(0),
        )
        .unwrap()
}

/// A session for `user_id` written straight into the database, for an account that cannot
/// sign in with a password (an SSO account) where no identity provider runs: the token hash
/// is computed with the server secret from the data dir, as the server does. Returns the
/// cookie value.
pub fn forge_session(data_dir: &Path, user_id: &str) -> String {
    let secret = std::fs::read(data_dir.join("secret.key")).expect("read secret.key");
    let keyring = tenantry::crypto::Keyring::new(&secret);
    let token = tenantry::crypto::new_token().expose().to_string();
    let now = tenantry::service::now();
    open(data_dir)
        .execute(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, csrf_token) \
             VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
            rusqlite::params![
                keyring.token_hash(&token),
                user_id,
                now,
                now + 3600,
                tenantry::crypto::new_token().expose()
            ],
        )
        .expect("insert session");
    token
}
