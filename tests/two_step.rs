//! Two-step sign-in over the API: enrolment with a code computed here from the
//! secret the server shows (RFC 6238, with `totp-rs` as an independent implementation), the
//! `mfa_required` sign-in step and its single-use challenge, codes accepted once, recovery
//! codes used up and replaced, throttling of wrong codes, turning it off with a fresh code,
//! the owner's reset within their rights, and the operator's reset from the CLI. Changes are
//! checked in the audit log and the outbox.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::cli::{path_str, tenantry};
use crate::orgs_matrix::{add_member, audit_all, expect, expect_field, expect_problem, uniq, PW};
use crate::support::db::outbox_count;
use crate::support::flows::{create_org, create_user, try_login, wait_out_throttle};
use crate::support::{Response, Session, TestServer};

/// The current RFC 6238 time step (30 seconds).
pub(crate) fn now_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

/// The 6-digit code of `secret` (Base32, as shown at enrolment) for time step `step`.
pub(crate) fn code_at(secret: &str, step: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("the shown secret is Base32");
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        None,
        String::new(),
    );
    totp.generate(step * 30)
}

/// Enrols `s` through the API; returns (secret, recovery codes, the step used to confirm).
pub(crate) fn enrol(s: &mut Session) -> (String, Vec<String>, u64) {
    let e = expect(
        &s.post_json("/api/v1/me/two-step/enrolment", &json!({})),
        201,
        "start enrolment",
    );
    let secret = e["secret"].as_str().expect("secret").to_string();
    let uri = e["otpauth_uri"].as_str().expect("otpauth_uri");
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "{uri}"
    );
    let step = now_step();
    let v = expect(
        &s.post_json(
            "/api/v1/me/two-step/enrolment/confirm",
            &json!({"code": code_at(&secret, step)}),
        ),
        200,
        "confirm enrolment",
    );
    let codes: Vec<String> = v["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes, step)
}

/// Signs in with the password; expects `mfa_required`; returns the session and challenge.
fn challenge(server: &TestServer, email: &str) -> (Session, String) {
    let (s, r) = try_login(server, email, PW);
    let body = expect_problem(&r, 401, "mfa_required", "password step");
    assert!(s.cookie.is_none(), "no session before the second step");
    assert_eq!(body["expires_in"], 300, "{body}");
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]), "{body}");
    let ch = body["challenge"].as_str().expect("challenge").to_string();
    assert_eq!(ch.len(), 43, "a 256-bit token: {ch}");
    (s, ch)
}

fn finish(s: &mut Session, ch: &str, code: &str) -> Response {
    s.post_json(
        "/api/v1/auth/login/two-step",
        &json!({"challenge": ch, "code": code}),
    )
}

pub(crate) fn actions(s: &mut Session, org: &str) -> Vec<String> {
    audit_all(s, org)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn sign_in_asks_for_a_second_step_and_each_code_works_once() {
    // The real binary: the log is searched for codes and secrets.
    let server = TestServer::builder().binary().start();
    let mut ia = server.bootstrap_admin();
    let email = format!("two-step-{}@example.test", uniq());
    create_user(&mut ia, &email, None, Some(PW));
    let org = create_org(
        &mut ia,
        "Two Step",
        &format!("two-step-{}", uniq()),
        Some(&email),
    );
    let (mut s, r) = try_login(&server, &email, PW);
    expect(&r, 200, "password only before enrolment");

    let st = expect(&s.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(st["enabled"], false, "{st}");
    // A wrong first code does not turn it on.
    expect(
        &s.post_json("/api/v1/me/two-step/enrolment", &json!({})),
        201,
        "start",
    );
    let pending = expect(&s.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(pending["pending"], true, "{pending}");
    expect_field(
        &s.post_json(
            "/api/v1/me/two-step/enrolment/confirm",
            &json!({"code": "12345x"}),
        ),
        "code",
        "a code that is not the app's",
    );
    // Six digits, but not the app's current code (one chance in ~330 000 that it is):
    // well-formed, refused by the present state.
    crate::orgs_matrix::expect_conflict_field(
        &s.post_json(
            "/api/v1/me/two-step/enrolment/confirm",
            &json!({"code": "000000"}),
        ),
        "code",
        "six digits that are not the app's",
    );
    let (secret, recovery, step) = enrol(&mut s);
    assert_eq!(recovery.len(), 10);
    let st = expect(&s.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(st["enabled"], true, "{st}");
    assert_eq!(st["recovery_codes_left"], 10, "{st}");
    // The secret is sealed at rest: its Base32 text and raw bytes are nowhere in the database.
    let db = std::fs::read(server.data_dir().join("tenantry.db")).unwrap();
    let raw = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    assert!(
        !db.windows(raw.len()).any(|w| w == raw.as_slice())
            && !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the authenticator secret is stored in clear"
    );
    // Starting again while on is refused.
    expect_problem(
        &s.post_json("/api/v1/me/two-step/enrolment", &json!({})),
        409,
        "two_step_already_enabled",
        "enrol twice",
    );

    // The password alone no longer signs in.
    let (mut s2, ch) = challenge(&server, &email);
    expect_problem(
        &s2.get("/api/v1/me"),
        401,
        "unauthenticated",
        "no session yet",
    );
    expect_problem(
        &finish(&mut s2, &"x".repeat(43), &code_at(&secret, step + 1)),
        401,
        "two_step_challenge_invalid",
        "a made-up challenge",
    );
    // The code that confirmed the enrolment was used: replayed, it is refused.
    expect_problem(
        &finish(&mut s2, &ch, &code_at(&secret, step)),
        401,
        "two_step_code_invalid",
        "replay of the enrolment code",
    );
    let r = finish(&mut s2, &ch, &code_at(&secret, step + 1));
    let me = expect(&r, 200, "second step");
    assert_eq!(me["email"], email.as_str());
    assert!(s2.cookie.is_some(), "session cookie after the second step");
    expect(&s2.get("/api/v1/me"), 200, "signed in");
    // The challenge worked once.
    let mut s3 = server.session();
    expect_problem(
        &finish(&mut s3, &ch, &code_at(&secret, step + 1)),
        401,
        "two_step_challenge_invalid",
        "challenge reused",
    );
    // The code worked once, on a new challenge too.
    let (mut s4, ch) = challenge(&server, &email);
    expect_problem(
        &finish(&mut s4, &ch, &code_at(&secret, step + 1)),
        401,
        "two_step_code_invalid",
        "replay of a sign-in code",
    );

    // A recovery code instead (typed in capitals, without its dash): once.
    let typed = recovery[0].replace('-', "").to_uppercase();
    expect(&finish(&mut s4, &ch, &typed), 200, "recovery code");
    let st = expect(&s4.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(st["recovery_codes_left"], 9, "{st}");
    let (mut s5, ch) = challenge(&server, &email);
    expect_problem(
        &finish(&mut s5, &ch, &recovery[0]),
        401,
        "two_step_code_invalid",
        "a used recovery code",
    );

    // New recovery codes need a current code; the old ones then stop working.
    expect_problem(
        &s.post_json(
            "/api/v1/me/two-step/recovery-codes",
            &json!({"code": "000000"}),
        ),
        401,
        "two_step_code_invalid",
        "regenerate with a wrong code",
    );
    let v = expect(
        &s.post_json(
            "/api/v1/me/two-step/recovery-codes",
            &json!({"code": recovery[1]}),
        ),
        200,
        "regenerate",
    );
    let fresh: Vec<String> = v["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !recovery.contains(c)));
    expect_problem(
        &finish(&mut s5, &ch, &recovery[2]),
        401,
        "two_step_code_invalid",
        "an old recovery code after regenerating",
    );
    expect(&finish(&mut s5, &ch, &fresh[0]), 200, "a new recovery code");

    // Recovery codes run out: the ten of them each work once, then none is left.
    for (i, c) in fresh.iter().enumerate().skip(1).take(8) {
        let (mut si, ch) = challenge(&server, &email);
        expect(&finish(&mut si, &ch, c), 200, &format!("recovery code {i}"));
    }
    let st = expect(&s.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(st["recovery_codes_left"], 1, "{st}");

    // Turning it off needs a fresh code: a wrong one is refused, the last recovery code works.
    expect_problem(
        &s.post_json("/api/v1/me/two-step/disable", &json!({"code": recovery[3]})),
        401,
        "two_step_code_invalid",
        "disable with an old recovery code",
    );
    let st = expect(
        &s.post_json("/api/v1/me/two-step/disable", &json!({"code": fresh[9]})),
        200,
        "disable",
    );
    assert_eq!(st["enabled"], false, "{st}");
    let (_, r) = try_login(&server, &email, PW);
    expect(&r, 200, "password only again");

    // Every change is audited (in the person's organization) and emailed.
    let acts = actions(&mut s, &org);
    for want in [
        "user.two_step_enabled",
        "user.two_step_recovery_code_used",
        "user.two_step_recovery_codes_replaced",
        "user.two_step_disabled",
    ] {
        assert!(acts.iter().any(|a| a == want), "{want} not in {acts:?}");
    }
    // on, 1 + 9 recovery codes used, codes replaced, off.
    assert_eq!(
        outbox_count(server.data_dir(), &email, "two_step_changed"),
        13
    );
    // No secret in the log.
    let log = server.current_stdout_text() + &server.stderr_text();
    assert!(!log.contains(&secret), "the secret is in the log");
}

#[test]
fn wrong_codes_are_throttled_and_spend_the_challenge() {
    let server = TestServer::start();
    let mut ia = server.bootstrap_admin();
    let email = format!("throttle-{}@example.test", uniq());
    create_user(&mut ia, &email, None, Some(PW));
    let (mut s, _) = try_login(&server, &email, PW);
    let (secret, _, step) = enrol(&mut s);
    let good = code_at(&secret, step + 1);
    let wrong = |i: u64| {
        // A code of a far step: never the current one.
        let c = code_at(&secret, step + 1000 + i);
        if c == good {
            "000000".to_string()
        } else {
            c
        }
    };

    let (mut s2, ch) = challenge(&server, &email);
    for i in 0..5 {
        expect_problem(
            &finish(&mut s2, &ch, &wrong(i)),
            401,
            "two_step_code_invalid",
            &format!("wrong code {i}"),
        );
    }
    // Locked: the right code too is refused while the account is throttled.
    let r = finish(&mut s2, &ch, &good);
    expect_problem(&r, 429, "rate_limited", "throttled");
    assert!(r.header("retry-after").is_some());
    assert!(s2.cookie.is_none());
    // Five wrong codes spent the challenge: back to the password (once the lock has passed).
    expect_problem(
        &wait_out_throttle(|| finish(&mut s2, &ch, &good)),
        401,
        "two_step_challenge_invalid",
        "spent challenge",
    );
    // The right password does not clear the count of wrong codes: one more wrong code locks
    // the account again at once.
    let (mut s3, ch) = challenge(&server, &email);
    expect_problem(
        &finish(&mut s3, &ch, &wrong(9)),
        401,
        "two_step_code_invalid",
        "sixth wrong code",
    );
    expect_problem(
        &finish(&mut s3, &ch, &good),
        429,
        "rate_limited",
        "locked again",
    );
    expect(
        &wait_out_throttle(|| finish(&mut s3, &ch, &good)),
        200,
        "after the lock",
    );

    // A signed-in session cannot guess its way to turning it off either.
    let mut locked = false;
    for i in 0..8 {
        let r = s.post_json(
            "/api/v1/me/two-step/disable",
            &json!({"code": wrong(20 + i)}),
        );
        if r.status == 429 {
            locked = true;
            break;
        }
        expect_problem(
            &r,
            401,
            "two_step_code_invalid",
            "disable with a wrong code",
        );
    }
    assert!(locked, "wrong codes to turn it off are throttled");
    let st = expect(&s.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(st["enabled"], true);
}

#[test]
fn owners_reset_members_below_them_and_operators_anyone() {
    let server = TestServer::start();
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let (owner, owner2, admin, member) = (
        format!("owner-{u}@example.test"),
        format!("owner2-{u}@example.test"),
        format!("admin-{u}@example.test"),
        format!("member-{u}@example.test"),
    );
    for e in [&owner, &owner2, &admin, &member] {
        create_user(&mut ia, e, None, Some(PW));
    }
    let org = create_org(&mut ia, "Reset Org", &format!("reset-{u}"), Some(&owner));
    add_member(&mut ia, &org, &owner2, "owner", json!("all"));
    add_member(&mut ia, &org, &admin, "admin", json!("all"));
    add_member(&mut ia, &org, &member, "member", json!("all"));
    add_member(
        &mut ia,
        &org,
        crate::support::server::ADMIN_EMAIL,
        "member",
        json!("all"),
    );
    let id_of = |s: &mut Session| -> String {
        expect(&s.get("/api/v1/me"), 200, "me")["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let ia_id = id_of(&mut ia);

    let (mut ms, _) = try_login(&server, &member, PW);
    let member_id = id_of(&mut ms);
    enrol(&mut ms);
    let (mut o2, _) = try_login(&server, &owner2, PW);
    let owner2_id = id_of(&mut o2);
    enrol(&mut o2);
    let (mut os, _) = try_login(&server, &owner, PW);
    let owner_id = id_of(&mut os);
    let (mut ads, _) = try_login(&server, &admin, PW);

    let reset = |s: &mut Session, user: &str| {
        s.delete(&format!("/api/v1/orgs/{org}/members/{user}/two-step"))
    };
    // Not beyond the owner's rights: not another owner, not an instance administrator, not
    // oneself; and only owners.
    expect_problem(
        &reset(&mut os, &owner2_id),
        403,
        "forbidden",
        "another owner",
    );
    expect_problem(
        &reset(&mut os, &ia_id),
        403,
        "forbidden",
        "an instance admin",
    );
    expect_problem(&reset(&mut os, &owner_id), 403, "forbidden", "oneself");
    expect_problem(&reset(&mut ads, &member_id), 403, "forbidden", "an admin");
    expect_problem(&reset(&mut ms, &member_id), 403, "forbidden", "the member");
    let (_, r) = try_login(&server, &member, PW);
    expect_problem(&r, 401, "mfa_required", "still on");

    expect(&reset(&mut os, &member_id), 204, "owner resets a member");
    let (_, r) = try_login(&server, &member, PW);
    expect(&r, 200, "the member signs in with the password again");
    expect(&reset(&mut os, &member_id), 204, "idempotent");
    let acts = actions(&mut os, &org);
    assert_eq!(
        acts.iter().filter(|a| *a == "user.two_step_reset").count(),
        1,
        "{acts:?}"
    );
    // enrolled (1) + reset (1)
    assert_eq!(
        outbox_count(server.data_dir(), &member, "two_step_changed"),
        2
    );

    // The instance operator, from the command line, resets an owner.
    let cwd = server.root_dir().to_path_buf();
    let d = path_str(server.data_dir());
    let out = tenantry(
        &["user", "reset-two-step", &owner2, "--data-dir", d],
        None,
        &[],
        &cwd,
    );
    out.assert_success("reset-two-step");
    assert!(
        out.stdout.contains("reset two-step sign-in"),
        "{}",
        out.all()
    );
    let (_, r) = try_login(&server, &owner2, PW);
    expect(&r, 200, "the owner signs in with the password again");
    let again = tenantry(
        &["user", "reset-two-step", &owner2, "--data-dir", d],
        None,
        &[],
        &cwd,
    );
    again.assert_success("reset-two-step again");
    assert!(again.stdout.contains("nothing to reset"), "{}", again.all());
    let nobody = tenantry(
        &[
            "user",
            "reset-two-step",
            "nobody@example.test",
            "--data-dir",
            d,
        ],
        None,
        &[],
        &cwd,
    );
    nobody.assert_failure("unknown user");
    assert!(
        nobody.all().contains("no user with email"),
        "{}",
        nobody.all()
    );
    let events = audit_all(&mut os, &org);
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "user.two_step_reset" && e["actor_type"] == "operator"),
        "{events:?}"
    );
}

#[test]
fn two_step_routes_refuse_bad_input_and_api_keys() {
    let server = TestServer::start();
    let mut ia = server.bootstrap_admin();
    let mut anon = server.session();
    expect_problem(
        &anon.get("/api/v1/me/two-step"),
        401,
        "unauthenticated",
        "signed out",
    );
    expect_field(
        &anon.post_json("/api/v1/auth/login/two-step", &json!({"challenge": "x"})),
        "code",
        "no code",
    );
    expect_problem(
        &ia.post_json(
            "/api/v1/me/two-step/enrolment/confirm",
            &json!({"code": "123456"}),
        ),
        409,
        "two_step_not_started",
        "confirm before start",
    );
    expect_problem(
        &ia.post_json("/api/v1/me/two-step/disable", &json!({"code": "123456"})),
        409,
        "two_step_not_enabled",
        "disable when off",
    );
    let v: Value = expect(&ia.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(v["sso_managed"], false);
    // The page of the second step: without a challenge, back to the password; a post without
    // the form token is refused.
    let r = anon.get("/login/two-step");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    let r = anon.request(
        "POST",
        "/login/two-step",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"code=123456"),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("Form expired"));
}
