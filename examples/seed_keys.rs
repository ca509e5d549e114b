//! Seeds a data directory with one organization holding N API keys, for the key benchmark:
//! `cargo run --release --example seed_keys -- DATA_DIR N`. Prints `org <id>`, then one
//! usable key with every scope (`key <key>`) and one key to be verified (`target <key>`).
//! The other N - 2 keys exist only to make the table large.

use std::path::PathBuf;

use tenantry::config::{Config, RawConfig};
use tenantry::crypto::Keyring;
use tenantry::domain::apikey::{self, Scope};
use tenantry::domain::entities::Organization;
use tenantry::domain::{KeyId, OrgId};
use tenantry::store::{KeyRow, Store};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: seed_keys DATA_DIR N"));
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
        .max(2);
    let mut raw = RawConfig::default();
    raw.set("data_dir", dir.display().to_string(), "flag");
    let config = Config::from_raw(&raw).expect("config");
    let keyring = Keyring::new(&tenantry::app::server_secret(&config).expect("server secret"));
    let store = Store::open(&dir).expect("open store");
    let now = tenantry::service::now();
    let org = Organization {
        id: OrgId::generate(),
        name: "Keys".into(),
        slug: "keys".into(),
        created_at: now,
    };
    let mut printed = Vec::new();
    store
        .write(|tx| {
            tx.insert_org(&org, "{}")?;
            for i in 0..n {
                let id = KeyId::generate();
                let key = apikey::generate(&id);
                let row = KeyRow {
                    id,
                    org_id: org.id.clone(),
                    name: format!("key {i}"),
                    scopes: Scope::ALL.to_vec(),
                    secret_hash: keyring.token_hash(key.expose()),
                    created_by: None,
                    created_at: now,
                    expires_at: None,
                    last_used_at: None,
                    use_count: 0,
                    revoked_at: None,
                    rotated_from: None,
                };
                tx.insert_api_key(&row)?;
                if i < 2 {
                    printed.push(key.expose().to_string());
                }
            }
            Ok(())
        })
        .expect("seed");
    println!("org {}", org.id);
    println!("key {}", printed[0]);
    println!("target {}", printed[1]);
}
