//! Seeds a data directory with one large organization for benchmarks:
//! `cargo run --release --example seed -- DATA_DIR [COMPANIES] [MEMBERS]` (defaults 1000 and
//! 100000). The owner signs in as `owner@bench.test` / `bench-password-1`.
//!
//! Half of the members have access to all companies, the other half to three companies
//! each; every tenth member also has a direct role in one company. Rows go straight through
//! the store in one transaction (the API would hash a password per user).

use std::path::PathBuf;

use tenantry::config::{Config, RawConfig};
use tenantry::crypto::{PasswordHasherPool, Secret};
use tenantry::domain::entities::{Company, Organization};
use tenantry::domain::{CompanyAccess, CompanyId, CompanyRole, Email, OrgId, OrgRole, UserId};
use tenantry::service::setup::{new_password_user, NewUserFlags};
use tenantry::store::{NewUser, Store};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .expect("usage: seed DATA_DIR [COMPANIES] [MEMBERS]"),
    );
    let companies: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let members: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut raw = RawConfig::default();
    raw.set("data_dir", dir.display().to_string(), "flag");
    let config = Config::from_raw(&raw).expect("config");
    let _ = tenantry::app::server_secret(&config).expect("server secret");
    let store = Store::open(&dir).expect("open store");
    let hash = PasswordHasherPool::new(1)
        .hash(&Secret::new("bench-password-1"))
        .expect("hash");
    let now = tenantry::service::now();
    store
        .write(|tx| {
            let owner = new_password_user(
                Email::parse("owner@bench.test").unwrap(),
                "Owner".into(),
                NewUserFlags::FIRST_ADMIN,
            );
            tx.insert_user(NewUser {
                user: &owner,
                password_hash: Some(&hash),
            })?;
            let org = Organization {
                id: OrgId::generate(),
                name: "Bench".into(),
                slug: "bench".into(),
                created_at: now,
            };
            tx.insert_org(&org, "{}")?;
            tx.upsert_org_member(&org.id, &owner.id, OrgRole::Owner, &CompanyAccess::All, now)?;
            let mut ids: Vec<CompanyId> = Vec::with_capacity(companies);
            for i in 0..companies {
                let c = Company {
                    id: CompanyId::generate(),
                    org: org.id.clone(),
                    name: format!("Company {i}"),
                    slug: format!("company-{i}"),
                    created_at: now,
                };
                tx.insert_company(&c)?;
                ids.push(c.id);
            }
            for i in 0..members {
                let mut u = new_password_user(
                    Email::parse(&format!("member{i}@bench.test")).unwrap(),
                    format!("Member {i}"),
                    NewUserFlags::VERIFIED,
                );
                u.id = UserId::generate();
                tx.insert_user(NewUser {
                    user: &u,
                    password_hash: Some(&hash),
                })?;
                let access = if i % 2 == 0 {
                    CompanyAccess::All
                } else {
                    CompanyAccess::List(
                        (0..3)
                            .map(|k| ids[(i * 7 + k * 13) % ids.len()].clone())
                            .collect(),
                    )
                };
                let role = [OrgRole::Member, OrgRole::Billing, OrgRole::Admin][i % 3];
                tx.upsert_org_member(&org.id, &u.id, role, &access, now)?;
                if i % 10 == 0 {
                    tx.upsert_company_member(
                        &org.id,
                        &ids[i % ids.len()],
                        &u.id,
                        CompanyRole::Viewer,
                        now,
                    )?;
                }
            }
            println!("org {}", org.id);
            println!("company {}", ids[0]);
            Ok(())
        })
        .expect("seed");
}
