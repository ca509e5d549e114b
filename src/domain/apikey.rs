//! API key format and scopes.
//!
//! A key reads `tnt_<key id>_<secret><checksum>`:
//! - `tnt_` makes it recognisable to people and to secret scanners;
//! - `<key id>` is the 26-character body of the public `key_…` ID, so a key is found without
//!   scanning, and is shown in listings as the key's prefix;
//! - `<secret>` is 32 base62 characters (190 bits from the operating system's CSPRNG);
//! - `<checksum>` is 6 base62 characters of CRC-32 over everything before it, so a mistyped
//!   or truncated key is refused without touching the database.

use serde::Serialize;

use super::KeyId;
use crate::crypto::{random_bytes, Secret};

/// The prefix of every key.
pub const PREFIX: &str = "tnt_";
const ID_LEN: usize = 26;
const SECRET_LEN: usize = 32;
const CRC_LEN: usize = 6;
/// Total length of a key.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN + CRC_LEN;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a presented key was refused before any look-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// Nothing after `Bearer`.
    Empty,
    /// Not a `tnt_` key.
    WrongPrefix,
    /// Shorter than a key.
    Truncated,
    /// Right shape, wrong checksum (a typo).
    BadChecksum,
    /// Anything else (bad characters, too long, wrong separators).
    Malformed,
}

impl FormatError {
    /// Stable problem code.
    pub fn code(self) -> &'static str {
        match self {
            FormatError::Empty => "key_empty",
            FormatError::WrongPrefix => "key_wrong_prefix",
            FormatError::Truncated => "key_truncated",
            FormatError::BadChecksum => "key_bad_checksum",
            FormatError::Malformed => "key_malformed",
        }
    }
}

/// Why a key was refused (wire codes without the `key_` prefix are used by `/keys/verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Failed the format/checksum check.
    Format(FormatError),
    /// No such key (or wrong secret for the ID).
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// The organization's `api_keys` feature is off.
    Disabled,
}

impl Refusal {
    /// Problem code for bearer authentication.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Format(f) => f.code(),
            Refusal::Unknown => "key_unknown",
            Refusal::Revoked => "key_revoked",
            Refusal::Expired => "key_expired",
            Refusal::Disabled => "key_disabled",
        }
    }

    /// The `code` of a `{valid: false}` verify answer.
    pub fn verify_code(self) -> &'static str {
        match self {
            Refusal::Format(_) => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
            Refusal::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The checksum of a key's body in base62 (no allocation: it is checked on every request).
fn crc_text(body: &str) -> [u8; CRC_LEN] {
    let mut n = crc32fast::hash(body.as_bytes()) as u64;
    let mut out = [b'0'; CRC_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Generates a new key for a key ID.
pub fn generate(id: &KeyId) -> Secret {
    let mut secret = String::with_capacity(SECRET_LEN);
    while secret.len() < SECRET_LEN {
        for b in random_bytes::<64>() {
            // Rejection sampling keeps the alphabet uniform (248 = 4 * 62).
            if b < 248 && secret.len() < SECRET_LEN {
                secret.push(BASE62[(b % 62) as usize] as char);
            }
        }
    }
    let body = format!("{PREFIX}{}_{secret}", &id.as_str()[4..]);
    let crc = crc_text(&body);
    let crc = std::str::from_utf8(&crc).expect("base62 is ASCII");
    Secret::new(format!("{body}{crc}"))
}

/// A key that passed the format and checksum checks.
#[derive(Debug)]
pub struct ParsedKey<'a> {
    /// The key's ID.
    pub id: KeyId,
    /// The whole key (what is hashed).
    pub full: &'a str,
}

/// Checks shape and checksum; no database access.
pub fn parse(raw: &str) -> Result<ParsedKey<'_>, FormatError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(FormatError::Empty);
    }
    if !s.starts_with(PREFIX) {
        return Err(FormatError::WrongPrefix);
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(FormatError::Malformed);
    }
    if s.len() < KEY_LEN {
        return Err(FormatError::Truncated);
    }
    if s.len() > KEY_LEN || s.as_bytes()[PREFIX.len() + ID_LEN] != b'_' {
        return Err(FormatError::Malformed);
    }
    let (body, crc) = s.split_at(KEY_LEN - CRC_LEN);
    if crc_text(body) != crc.as_bytes() {
        return Err(FormatError::BadChecksum);
    }
    let id = KeyId::parse(&format!("key_{}", &s[PREFIX.len()..PREFIX.len() + ID_LEN]))
        .ok_or(FormatError::Malformed)?;
    Ok(ParsedKey { id, full: s })
}

/// The public prefix shown in listings (`tnt_<key id>`).
pub fn display_prefix(id: &KeyId) -> String {
    format!("{PREFIX}{}", &id.as_str()[4..])
}

/// A key's state as listings show it, derived from its revocation and expiry times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Past its expiry (and not revoked).
    Expired,
    /// Revoked (whatever its expiry).
    Revoked,
}

impl KeyStatus {
    /// The status of a key revoked at `revoked_at` and expiring at `expires_at`, at `now`.
    pub fn of(revoked_at: Option<i64>, expires_at: Option<i64>, now: i64) -> KeyStatus {
        if revoked_at.is_some() {
            KeyStatus::Revoked
        } else if expires_at.is_some_and(|t| t <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

macro_rules! scopes {
    ($($variant:ident = $s:literal,)*) => {
        /// What an API key may do (SPEC §2). A key never manages keys or owners.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum Scope { $(#[doc = $s] #[serde(rename = $s)] $variant,)* }
        impl Scope {
            /// Every scope.
            pub const ALL: &'static [Scope] = &[$(Scope::$variant,)*];
            /// Wire form.
            pub fn as_str(self) -> &'static str { match self { $(Scope::$variant => $s,)* } }
            /// Parses the wire form.
            pub fn parse(s: &str) -> Option<Scope> { match s { $($s => Some(Scope::$variant),)* _ => None } }
        }
    };
}

scopes! {
    OrgRead = "org:read",
    MembersRead = "members:read",
    MembersWrite = "members:write",
    CompaniesRead = "companies:read",
    CompaniesWrite = "companies:write",
    BillingRead = "billing:read",
    AuditRead = "audit:read",
    KeysVerify = "keys:verify",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_typos_do_not() {
        let id = KeyId::generate();
        let key = generate(&id);
        let k = key.expose();
        assert_eq!(k.len(), KEY_LEN);
        assert_eq!(parse(k).unwrap().id, id);
        // One changed character anywhere breaks the checksum (or the shape).
        let mut typo = k.as_bytes().to_vec();
        typo[40] = if typo[40] == b'a' { b'b' } else { b'a' };
        assert_eq!(
            parse(std::str::from_utf8(&typo).unwrap()).unwrap_err(),
            FormatError::BadChecksum
        );
        assert_eq!(
            parse(&k[..k.len() - 1]).unwrap_err(),
            FormatError::Truncated
        );
        assert_eq!(parse("").unwrap_err(), FormatError::Empty);
        assert_eq!(parse("sk_live_abc").unwrap_err(), FormatError::WrongPrefix);
        assert_eq!(parse(&format!("{k}x")).unwrap_err(), FormatError::Malformed);
        assert_eq!(parse("tnt_abc-def").unwrap_err(), FormatError::Malformed);
    }

    #[test]
    fn key_status_is_revoked_then_expired_then_active() {
        assert_eq!(KeyStatus::of(Some(5), Some(1), 10), KeyStatus::Revoked);
        assert_eq!(KeyStatus::of(None, Some(10), 10), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(None, Some(11), 10), KeyStatus::Active);
        assert_eq!(KeyStatus::of(None, None, 10), KeyStatus::Active);
        for s in [KeyStatus::Active, KeyStatus::Expired, KeyStatus::Revoked] {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
    }

    #[test]
    fn secrets_differ() {
        let id = KeyId::generate();
        assert_ne!(generate(&id).expose(), generate(&id).expose());
    }
}
