//! A small wrapper over ring and argon2: random tokens, keyed hashes, password hashing and
//! constant-time checks. Nothing else in the crate touches raw cryptographic primitives.

use std::fmt;
use std::sync::Mutex;

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

/// Fills a slice of any length from the operating system's CSPRNG.
pub fn fill_random(buf: &mut [u8]) {
    SystemRandom::new()
        .fill(buf)
        .expect("the operating system random source failed");
}

/// Length of a token from [`new_token`]: 32 bytes in URL-safe base64 without padding.
pub const TOKEN_LEN: usize = 43;

/// A new 256-bit token, URL-safe base64 without padding ([`TOKEN_LEN`] characters).
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The server's keyed-hash key (HMAC-SHA-256), derived from the server secret.
pub struct Keyring {
    token_key: hmac::Key,
    seal_key: ring::aead::LessSafeKey,
    check: String,
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
            check: hex(&derive(b"tenantry/secret-check/v1").as_ref()[..16]),
        }
    }

    /// A fingerprint of the server secret, stored in the database so that a database copied
    /// or restored onto a node with another secret is refused instead of half working
    /// (a keyed hash of a fixed label: it reveals nothing usable about the secret).
    pub fn secret_check(&self) -> &str {
        &self.check
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

/// Compares a presented secret with the expected one without leaking, through timing, where
/// they differ or how long the expected one is (both are MACed under a fresh key and the
/// tags compared by ring in constant time).
pub fn secrets_equal(presented: &[u8], expected: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>());
    let tag = hmac::sign(&key, expected);
    hmac::verify(&key, presented, tag.as_ref()).is_ok()
}

/// Argon2id password hashing with OWASP parameters (m = 19 MiB, t = 2, p = 1) on dedicated
/// threads that run at a lower scheduling priority (nice about 10), with a bound on how many
/// hashes may wait: a sign-in flood gets `busy` answers instead of tying up every HTTP worker,
/// and the hashing that does run yields the CPU to other requests.
pub struct PasswordHasherPool {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    /// Hashes running or queued.
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    capacity: usize,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

impl fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHasherPool")
    }
}

/// Too many hashes are already running or waiting; try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherBusy;

fn argon() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Lowers the calling thread's scheduling priority (nice about 10); best effort.
fn lower_priority() {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let Ok(value) = ThreadPriorityValue::try_from(25u8) else {
        return;
    };
    if let Err(e) = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(value),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
    ) {
        log::warn!("could not lower the password-hashing threads' priority: {e:?}");
    }
}

impl PasswordHasherPool {
    /// A pool of `threads` hashing threads and room for as many queued hashes again.
    pub fn new(threads: usize) -> Self {
        Self::with_queue(threads, 2 * threads.max(1))
    }

    /// Hashes running or waiting for a hashing thread now.
    pub fn queue_depth(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A pool with an explicit waiting-queue bound.
    pub fn with_queue(threads: usize, max_waiting: usize) -> Self {
        let threads = threads.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = {
                            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
                            guard.recv()
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawn a password-hashing thread");
        }
        PasswordHasherPool {
            jobs: Mutex::new(tx),
            in_flight: Default::default(),
            capacity: threads + max_waiting,
        }
    }

    /// Runs `f` on a hashing thread and waits for its answer, or refuses at once when the
    /// pool is full.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::result::Result<T, HasherBusy> {
        use std::sync::atomic::Ordering;
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(HasherBusy);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let in_flight = self.in_flight.clone();
        let job: Job = Box::new(move || {
            let out = f();
            in_flight.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(out);
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job);
        if sent.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(HasherBusy);
        }
        rx.recv().map_err(|_| HasherBusy)
    }

    /// Hashes a password into a PHC string (`rate_limited` when the pool is saturated).
    pub fn hash(&self, password: &Secret) -> Result<String> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(Error::internal)?;
        let password = password.clone();
        self.run(move || {
            argon()
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
        if PasswordHash::new(phc).is_err() {
            return Ok(false);
        }
        let (password, phc) = (password.clone(), phc.to_string());
        self.run(move || {
            PasswordHash::new(&phc).is_ok_and(|parsed| {
                argon()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
        })
    }

    /// Burns the same work as a verification, for unknown accounts (timing parity).
    pub fn dummy_verify(&self, password: &Secret) -> std::result::Result<(), HasherBusy> {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let phc = DUMMY.get_or_init(|| {
            let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("salt");
            argon()
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
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
        let hold_rx = std::sync::Arc::new(Mutex::new(hold_rx));
        let p1 = p.clone();
        let h1 = hold_rx.clone();
        let holder = std::thread::spawn(move || {
            p1.run(move || {
                started_tx.send(()).unwrap();
                h1.lock().unwrap().recv().unwrap();
            })
        });
        started_rx.recv().unwrap();
        // One more fits in the queue; the next one is refused at once.
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || p2.run(|| ()));
        while p.in_flight.load(std::sync::atomic::Ordering::Acquire) < 2 {
            std::thread::yield_now();
        }
        assert_eq!(p.run(|| ()), Err(HasherBusy));
        hold_tx.send(()).unwrap();
        assert!(holder.join().unwrap().is_ok());
        assert!(waiter.join().unwrap().is_ok());
    }

    #[test]
    fn hashing_threads_run_at_a_lower_priority() {
        let p = PasswordHasherPool::new(1);
        let nice = p
            .run(|| {
                let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
                // Field 19 is the nice value; the command name (field 2) may hold spaces.
                let after = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r.to_string())
                    .unwrap_or_default();
                after
                    .split_whitespace()
                    .nth(16)
                    .and_then(|n| n.parse::<i32>().ok())
            })
            .unwrap();
        assert!(nice.is_some_and(|n| n > 0), "nice = {nice:?}");
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
