//! The instance administrator's user routes (`/api/v1/users`): create (duplicates whatever
//! the case, field validation), list with pagination, refusals for others and the signed
//! out, malformed and unknown IDs, no locking oneself out, and disabling (sessions end,
//! sign-in refused) and enabling again.

use serde_json::json;

use crate::support::assert_problem;
use crate::support::flows::{bootstrap, list_all_users, raw, try_login};
use crate::support::problem::assert_invalid_field;
use crate::support::server::ADMIN_EMAIL;
use crate::support::TestServer;

const BOB_PW: &str = "bob's long password";

#[test]
fn instance_admin_user_routes() {
    let server = TestServer::start();
    let mut admin = bootstrap(&server);
    let c = server.client();

    let r = admin.post_json(
        "/api/v1/users",
        &json!({"email": "Bob@Example.test", "name": "Bob", "password": BOB_PW}),
    );
    assert_eq!(r.status, 201, "create Bob@Example.test: {}", r.text());
    let bob = r.json();
    assert_eq!(
        bob["email"], "bob@example.test",
        "email not normalised: {bob}"
    );
    assert_eq!(bob["is_instance_admin"], false);
    assert_eq!(bob["disabled"], false);
    assert!(
        bob.get("password").is_none() && bob.get("password_hash").is_none(),
        "{bob}"
    );
    let bob_id = bob["id"].as_str().expect("id").to_string();
    let no_pw = admin.post_json(
        "/api/v1/users",
        &json!({"email": "nopw@example.test", "name": "No Password"}),
    );
    assert_eq!(no_pw.status, 201, "{}", no_pw.text());

    // Duplicates, whatever the case.
    for email in ["bob@example.test", "BOB@EXAMPLE.TEST", " bob@example.test "] {
        let r = admin.post_json(
            "/api/v1/users",
            &json!({"email": email, "name": "Bob again"}),
        );
        assert_problem(&r, 409, "conflict");
    }
    // Field validation.
    assert_invalid_field(
        &admin.post_json("/api/v1/users", &json!({"email": "nope", "name": "X"})),
        "email",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": ""}),
        ),
        "name",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": "X", "password": "short"}),
        ),
        "password",
    );
    assert_invalid_field(
        &admin.post_json(
            "/api/v1/users",
            &json!({"email": "x@example.test", "name": "X", "is_instance_admin": true}),
        ),
        "is_instance_admin",
    );

    // Listing with pagination.
    let all = list_all_users(&mut admin, 1);
    let emails: Vec<&str> = all.iter().filter_map(|u| u["email"].as_str()).collect();
    assert_eq!(emails.len(), 3, "{emails:?}");
    for e in [ADMIN_EMAIL, "bob@example.test", "nopw@example.test"] {
        assert!(emails.contains(&e), "{e} not listed: {emails:?}");
    }
    assert_invalid_field(&admin.get("/api/v1/users?limit=0"), "limit");
    assert_invalid_field(&admin.get("/api/v1/users?limit=201"), "limit");
    assert_invalid_field(&admin.get("/api/v1/users?limit=lots"), "limit");

    // A non-admin is forbidden; signed out is unauthenticated.
    let (mut bob_s, r) = try_login(&server, "bob@example.test", BOB_PW);
    assert_eq!(r.status, 200, "{}", r.text());
    let bob_cookie = bob_s.cookie.clone().unwrap();
    assert_problem(&bob_s.get("/api/v1/users"), 403, "forbidden");
    assert_problem(
        &bob_s.post_json(
            "/api/v1/users",
            &json!({"email": "m@example.test", "name": "M"}),
        ),
        403,
        "forbidden",
    );
    let admin_id = admin.get("/api/v1/me").json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_problem(
        &bob_s.patch_json(
            &format!("/api/v1/users/{admin_id}"),
            &json!({"disabled": true}),
        ),
        403,
        "forbidden",
    );
    assert_problem(
        &bob_s.patch_json(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"disabled": false}),
        ),
        403,
        "forbidden",
    );
    assert_problem(&c.get("/api/v1/users"), 401, "unauthenticated");
    let body = serde_json::to_vec(&json!({"email": "m@example.test", "name": "M"})).unwrap();
    assert_problem(
        &c.request(
            "POST",
            "/api/v1/users",
            &[("Content-Type", "application/json")],
            Some(&body),
        ),
        401,
        "unauthenticated",
    );
    let body = serde_json::to_vec(&json!({"disabled": true})).unwrap();
    assert_problem(
        &c.request(
            "PATCH",
            &format!("/api/v1/users/{bob_id}"),
            &[("Content-Type", "application/json")],
            Some(&body),
        ),
        401,
        "unauthenticated",
    );
    assert_eq!(
        admin.get("/api/v1/me").status,
        200,
        "the admin was disabled by a non-admin"
    );

    // Malformed and unknown IDs are 404.
    for id in [
        "not-an-id",
        "usr_short",
        "org_0123456789abcdefghjkmnpqrs",
        "usr_0123456789ABCDEFGHJKMNPQRS",
        "usr_0123456789abcdefghjkmnpqrs",
        "%00",
    ] {
        let r = admin.patch_json(&format!("/api/v1/users/{id}"), &json!({"disabled": true}));
        assert_problem(&r, 404, "not_found");
    }
    assert_invalid_field(
        &admin.patch_json(
            &format!("/api/v1/users/{bob_id}"),
            &json!({"disabled": "yes"}),
        ),
        "disabled",
    );
    // An admin cannot lock themselves out.
    let r = admin.patch_json(
        &format!("/api/v1/users/{admin_id}"),
        &json!({"disabled": true}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(admin.get("/api/v1/me").status, 200);

    // Disabling ends Bob's session and his sign-in.
    let r = admin.patch_json(
        &format!("/api/v1/users/{bob_id}"),
        &json!({"disabled": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["disabled"], true);
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some(&bob_cookie), &[], None),
        401,
        "unauthenticated",
    );
    let (_, r) = try_login(&server, "bob@example.test", BOB_PW);
    assert_problem(&r, 401, "invalid_credentials");
    let (_, wrong) = try_login(&server, "bob@example.test", "not bob's password");
    assert_eq!(
        r.body, wrong.body,
        "a disabled account is distinguishable from a wrong password"
    );
    // …and re-enabling lets him back in (with a new session; the old one stays dead).
    let r = admin.patch_json(
        &format!("/api/v1/users/{bob_id}"),
        &json!({"disabled": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_problem(
        &raw(&c, "GET", "/api/v1/me", Some(&bob_cookie), &[], None),
        401,
        "unauthenticated",
    );
    let (mut bob2, r) = try_login(&server, "bob@example.test", BOB_PW);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(bob2.get("/api/v1/me").status, 200);
}
