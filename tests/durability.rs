//! Crash durability: a `kill -9` in the middle of a write burst loses no acknowledged write;
//! after a restart every acknowledged user is listed and the database is intact.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::cli::integrity;
use crate::support::flows::{bootstrap, list_all_users};
use crate::support::wait::poll_value;
use crate::support::TestServer;

#[test]
fn kill_9_during_a_write_burst_loses_no_acknowledged_write() {
    // The real binary: it is killed with SIGKILL.
    let mut server = TestServer::builder().binary().start();
    let admin = bootstrap(&server);
    let stop = Arc::new(AtomicBool::new(false));
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (stop, created, bad) = (stop.clone(), created.clone(), bad.clone());
            let mut s = admin.clone();
            s.client.timeout = Duration::from_secs(5);
            thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let email = format!("burst-{t}-{i}@example.test");
                    let body = serde_json::to_vec(
                        &json!({"email": email, "name": format!("Burst {t} {i}")}),
                    )
                    .unwrap();
                    match s.try_request(
                        "POST",
                        "/api/v1/users",
                        &[("Content-Type", "application/json")],
                        Some(&body),
                    ) {
                        Ok(r) if (200..300).contains(&r.status) => {
                            created.lock().unwrap().push(email)
                        }
                        Ok(r) => {
                            bad.lock()
                                .unwrap()
                                .push(format!("{email}: {} {}", r.status, r.text()))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect();

    // Kill once a good number of writes went through, while the others are in flight.
    // (Not a panic at the deadline: the writers are stopped first, the count is checked below.)
    poll_value(
        Duration::from_secs(60),
        || created.lock().unwrap().len(),
        |n| *n >= 80,
    );
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("burst thread panicked");
    }
    let created = created.lock().unwrap().clone();
    assert!(
        created.len() >= 80,
        "only {} writes succeeded before the deadline",
        created.len()
    );
    let bad = bad.lock().unwrap().clone();
    assert!(bad.is_empty(), "non-2xx answers during the burst: {bad:?}");

    // After a restart, every acknowledged write is there.
    server.restart();
    let mut admin = admin;
    let listed = list_all_users(&mut admin, 200);
    let emails: std::collections::HashSet<&str> =
        listed.iter().filter_map(|u| u["email"].as_str()).collect();
    let missing: Vec<&String> = created
        .iter()
        .filter(|e| !emails.contains(e.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost after kill -9: {missing:?}",
        missing.len()
    );

    server.stop();
    assert_eq!(integrity(&server.data_dir().join("tenantry.db")), "ok");
}
