//! A small wrapper over ring and argon2: random tokens, keyed hashes, password hashing and
//! constant-time checks. Nothing else in the crate touches raw cryptographic primitives.

use std::fmt;
use std::sync::{Condvar, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, Result};

/// A secret string whose `Debug` and `Display` never print the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret value; call only where the value is really needed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system random source failed");
    buf
}

/// A new 256-bit token, URL-safe base64 without padding (43 characters).
pub fn new_token() -> Secret {
    Secret(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// A new opaque ID with a type prefix, e.g. `usr_…` (128 random bits, base32-like alphabet).
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let bytes = random_bytes::<16>();
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    // 128 bits in 5-bit groups: 26 characters.
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The server's keyed-hash key (HMAC-SHA-256), derived from the server secret.
pub struct Keyring {
    token_key: hmac::Key,
    seal_key: ring::aead::LessSafeKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring([redacted])")
    }
}

impl Keyring {
    /// Derives purpose-separated keys from the server secret bytes.
    pub fn new(server_secret: &[u8]) -> Keyring {
        let master = hmac::Key::new(hmac::HMAC_SHA256, server_secret);
        let derive = |label: &[u8]| hmac::sign(&master, label);
        let seal = derive(b"tenantry/seal/v1");
        let unbound = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, seal.as_ref())
            .expect("a 32-byte key");
        Keyring {
            token_key: hmac::Key::new(
                hmac::HMAC_SHA256,
                derive(b"tenantry/token-hash/v1").as_ref(),
            ),
            seal_key: ring::aead::LessSafeKey::new(unbound),
        }
    }

    /// The stored form of a bearer token: HMAC-SHA-256 under the server secret.
    pub fn token_hash(&self, token: &str) -> Vec<u8> {
        hmac::sign(&self.token_key, token.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// Encrypts `plain` (ChaCha20-Poly1305, random nonce) bound to `context`; the output is
    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, context: &str, plain: &[u8]) -> Vec<u8> {
        use ring::aead::{Aad, Nonce};
        let nonce_bytes = random_bytes::<12>();
        let mut buf = plain.to_vec();
        self.seal_key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .expect("sealing cannot fail for in-memory buffers");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// Decrypts what [`Keyring::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        use ring::aead::{Aad, Nonce};
        if sealed.len() < 12 + 16 {
            return Err(Error::internal("sealed value too short"));
        }
        let (nonce, body) = sealed.split_at(12);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::internal("bad nonce"))?;
        let mut buf = body.to_vec();
        let plain = self
            .seal_key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| Error::internal("sealed value does not open under the server secret"))?;
        Ok(plain.to_vec())
    }

    /// Constant-time check that `token` hashes to `expected`.
    pub fn verify_token(&self, token: &str, expected: &[u8]) -> bool {
        hmac::verify(&self.token_key, token.as_bytes(), expected).is_ok()
    }
}

/// Argon2id password hashing with OWASP parameters (m = 19 MiB, t = 2, p = 1) and a bound on
/// how many hashes run at once and how many wait: a sign-in flood gets `busy` answers instead
/// of tying up every HTTP worker, so other requests keep their latency.
pub struct PasswordHasherPool {
    argon: Argon2<'static>,
    state: Mutex<(usize, usize)>,
    max_waiting: usize,
    freed: Condvar,
}

impl fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHasherPool")
    }
}

/// Too many hashes are already running or waiting; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherBusy;

impl PasswordHasherPool {
    /// A pool allowing `concurrency` simultaneous hashes and `max_waiting` queued ones.
    pub fn new(concurrency: usize) -> Self {
        Self::with_queue(concurrency, 2 * concurrency.max(1))
    }

    /// A pool with an explicit waiting-queue bound.
    pub fn with_queue(concurrency: usize, max_waiting: usize) -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
        PasswordHasherPool {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            state: Mutex::new((concurrency.max(1), 0)),
            max_waiting,
            freed: Condvar::new(),
        }
    }

    fn with_permit<T>(&self, f: impl FnOnce() -> T) -> std::result::Result<T, HasherBusy> {
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.0 == 0 {
                if s.1 >= self.max_waiting {
                    return Err(HasherBusy);
                }
                s.1 += 1;
                while s.0 == 0 {
                    s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
                }
                s.1 -= 1;
            }
            s.0 -= 1;
        }
        struct Release<'a>(&'a PasswordHasherPool);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.state.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
                self.0.freed.notify_one();
            }
        }
        let _release = Release(self);
        Ok(f())
    }

    /// Hashes a password into a PHC string (`rate_limited` when the pool is saturated).
    pub fn hash(&self, password: &Secret) -> Result<String> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(Error::internal)?;
        self.with_permit(|| {
            self.argon
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(Error::internal)
        })
        .map_err(|_| Error::RateLimited {
            retry_after_secs: 1,
        })?
    }

    /// Verifies a password against a PHC string (constant-time inside argon2).
    pub fn verify(&self, password: &Secret, phc: &str) -> std::result::Result<bool, HasherBusy> {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return Ok(false);
        };
        self.with_permit(|| {
            self.argon
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Burns the same work as a verification, for unknown accounts (timing parity).
    pub fn dummy_verify(&self, password: &Secret) -> std::result::Result<(), HasherBusy> {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let phc = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("salt");
            self.argon
                .hash_password(b"tenantry-dummy-password", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        self.verify(password, phc).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_unique() {
        let a = new_id("usr");
        let b = new_id("usr");
        assert!(a.starts_with("usr_"));
        assert_eq!(a.len(), 4 + 26);
        assert_ne!(a, b);
    }

    #[test]
    fn token_hash_verifies_in_constant_time_api() {
        let k = Keyring::new(b"secret");
        let t = new_token();
        let h = k.token_hash(t.expose());
        assert!(k.verify_token(t.expose(), &h));
        assert!(!k.verify_token("other", &h));
        assert_eq!(format!("{t:?}"), "[redacted]");
    }

    #[test]
    fn seal_roundtrip_and_context_binding() {
        let k = Keyring::new(b"secret");
        let sealed = k.seal("org_a", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(k.open("org_a", &sealed).unwrap(), b"hunter2");
        assert!(k.open("org_b", &sealed).is_err());
        assert!(Keyring::new(b"other").open("org_a", &sealed).is_err());
    }

    #[test]
    fn a_saturated_pool_answers_busy_instead_of_queueing_forever() {
        let p = std::sync::Arc::new(PasswordHasherPool::with_queue(1, 1));
        let (tx, rx) = std::sync::mpsc::channel();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let p1 = p.clone();
        let holder = std::thread::spawn(move || {
            p1.with_permit(|| {
                tx.send(()).unwrap();
                hold_rx.recv().unwrap();
            })
        });
        rx.recv().unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || p2.with_permit(|| ()));
        // Wait until the waiter is queued, then a third caller is refused at once.
        while p.state.lock().unwrap().1 == 0 {
            std::thread::yield_now();
        }
        assert_eq!(p.with_permit(|| ()), Err(HasherBusy));
        hold_tx.send(()).unwrap();
        assert!(holder.join().unwrap().is_ok());
        assert!(waiter.join().unwrap().is_ok());
    }

    #[test]
    fn password_roundtrip() {
        let p = PasswordHasherPool::new(1);
        let h = p.hash(&Secret::new("hunter2hunter2")).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(p.verify(&Secret::new("hunter2hunter2"), &h), Ok(true));
        assert_eq!(p.verify(&Secret::new("wrong"), &h), Ok(false));
    }
}
