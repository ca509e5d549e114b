//! Secrets stay out of logs and files: at `RUST_LOG=trace`, passwords (right and wrong),
//! session cookies and the setup token never appear in the server's output or in the data
//! directory's files, while it runs and after shutdown (stdout holds the setup link, by
//! design, and nothing else secret).

use std::time::Duration;

use serde_json::json;

use crate::support::flows::{
    bootstrap, contains_bytes, create_user, raw, setup_token, try_login, wait_stderr,
};
use crate::support::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::support::TestServer;

#[test]
fn secrets_stay_out_of_logs_and_files() {
    let mut server = TestServer::builder().env("RUST_LOG", "trace").start();
    let setup_token = setup_token(&server).expect("setup link");
    let mut admin = bootstrap(&server);
    let cookie = admin.cookie.clone().unwrap();
    let wrong_pw = "Wr0ng-Passw0rd-Marker";
    let bob_pw = "Bobs-Secret-Passw0rd-Marker";

    // A few requests of every kind.
    assert_eq!(admin.get("/api/v1/me").status, 200);
    assert_eq!(
        admin
            .patch_json("/api/v1/me", &json!({"name": "Renamed"}))
            .status,
        200
    );
    assert_eq!(
        admin
            .put_json(
                "/api/v1/me/preferences",
                &json!({"locale": "en", "timezone": "UTC", "theme": "dark"})
            )
            .status,
        200
    );
    create_user(&mut admin, "bob@example.test", Some("Bob"), Some(bob_pw));
    let (mut bob, r) = try_login(&server, "bob@example.test", bob_pw);
    assert_eq!(r.status, 200);
    let bob_cookie = bob.cookie.clone().unwrap();
    assert_eq!(bob.get("/api/v1/me").status, 200);
    assert_eq!(try_login(&server, ADMIN_EMAIL, wrong_pw).1.status, 401);
    assert_eq!(
        try_login(&server, "ghost@example.test", wrong_pw).1.status,
        401
    );
    assert_eq!(
        server
            .client()
            .get(&format!("/setup?token={setup_token}"))
            .status,
        404
    );
    let c = server.client();
    assert_eq!(
        raw(
            &c,
            "GET",
            &format!("/api/v1/me?session={cookie}"),
            Some(&cookie),
            &[],
            None
        )
        .status,
        200
    );
    assert_eq!(bob.post_json("/api/v1/auth/logout", &json!({})).status, 200);

    let stderr = wait_stderr(&server, Duration::from_secs(10), |t| {
        t.contains("/api/v1/auth/logout")
    });
    assert!(
        stderr.contains("/api/v1/auth/logout"),
        "no access log at trace level:\n{stderr}"
    );
    let secrets = [
        ("admin password", ADMIN_PASSWORD),
        ("bob's password", bob_pw),
        ("a wrong password", wrong_pw),
        ("admin session cookie", cookie.as_str()),
        ("bob session cookie", bob_cookie.as_str()),
        ("setup token", setup_token.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(
            !stderr.contains(secret),
            "{what} appears in the logs (stderr)"
        );
    }
    // Stdout holds the setup link (by design) and nothing else secret.
    let stdout = server.stdout_text();
    assert_eq!(
        stdout.matches(setup_token.as_str()).count(),
        1,
        "setup token printed more than once:\n{stdout}"
    );
    for (what, secret) in &secrets[..5] {
        assert!(!stdout.contains(secret), "{what} appears on stdout");
    }

    // Files in the data dir, while the server runs (WAL present) and after it stopped.
    let data_dir = server.data_dir().to_path_buf();
    let check_files = |when: &str| {
        let mut seen = 0;
        for entry in std::fs::read_dir(&data_dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            seen += 1;
            let bytes = std::fs::read(&path).unwrap();
            for (what, secret) in &secrets[..5] {
                assert!(
                    !contains_bytes(&bytes, secret.as_bytes()),
                    "{what} stored in clear in {} ({when})",
                    path.display()
                );
            }
        }
        assert!(
            seen >= 2,
            "expected the database and secret.key in the data dir"
        );
    };
    assert!(server.data_dir().join("tenantry.db").exists());
    check_files("while serving");
    server.stop();
    check_files("after shutdown");
}
