//! Passkeys, with ChromeDriver's virtual authenticator (WebDriver's WebAuthn
//! extension) standing in for a laptop's or phone's passkey store. The server runs with
//! `public_url = http://localhost:PORT` (a passkey needs a domain) and the browser visits
//! `localhost`.
//!
//! In the pages: adding a passkey from Personal > Security, the password then the passkey as
//! the second step, signing in with the passkey alone (no address typed), and removing it
//! (confirmed with the passkey first). Over the API: the `mfa_required` step lists `passkey`
//! and is finished with one; garbled and forged answers are 400 `passkey_invalid`; a ceremony
//! answers once (a replay is refused); another person's passkey is 404; removing any passkey
//! needs a fresh second step (a passkey check, or a current authenticator code); an
//! IP-address `public_url` has no passkeys.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::orgs_matrix::{add_member, expect, expect_field, expect_problem, uniq, PW};
use crate::support::browser::Browser;
use crate::support::db::outbox_count;
use crate::support::flows::{create_org, create_user, login};
use crate::support::pages::{lands_on_settings, sign_out, submit_password};
use crate::support::{Session, TestServer};
use crate::two_step::{actions, code_at, enrol};

const WAIT: Duration = Duration::from_secs(20);

/// In the browser (on a page of the server's origin): turns the server's options into
/// what WebAuthn takes, asks the (virtual) authenticator, and answers its credential as
/// JSON with base64url values — what a client of the API does.
const CEREMONY_JS: &str = r#"
var done = arguments[arguments.length - 1];
var o = arguments[0].publicKey;
function d(s) { s = s.replace(/-/g, '+').replace(/_/g, '/'); while (s.length % 4) { s += '='; }
  var b = atob(s), a = new Uint8Array(b.length); for (var i = 0; i < b.length; i++) { a[i] = b.charCodeAt(i); } return a.buffer; }
function e(buf) { var a = new Uint8Array(buf), s = ''; for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); }
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }
o.challenge = d(o.challenge);
if (o.user) { o.user.id = d(o.user.id); }
(o.excludeCredentials || []).forEach(function (c) { c.id = d(c.id); });
(o.allowCredentials || []).forEach(function (c) { c.id = d(c.id); });
var p = o.user ? navigator.credentials.create({publicKey: o}) : navigator.credentials.get({publicKey: o});
p.then(function (c) {
  var r = c.response, out = {id: c.id, rawId: e(c.rawId), type: c.type, extensions: {},
    response: {clientDataJSON: e(r.clientDataJSON)}};
  if (r.attestationObject) { out.response.attestationObject = e(r.attestationObject); }
  else { out.response.authenticatorData = e(r.authenticatorData); out.response.signature = e(r.signature);
    out.response.userHandle = r.userHandle ? e(r.userHandle) : null; }
  done(out);
}, function (err) { done({error: String(err)}); });
"#;

fn authenticator_answer(b: &Browser, options: &Value) -> Value {
    let v = b.execute_async(CEREMONY_JS, json!([options]));
    assert!(v.get("error").is_none(), "the authenticator refused: {v}");
    v
}

fn security(b: &Browser, base: &str) {
    b.goto(&format!("{base}/settings/personal/security"));
    b.wait_for("Security", WAIT, |_, html| {
        html.contains("<h1>Security</h1>")
    });
}

#[test]
fn passkey_added_used_as_second_step_and_alone_then_removed_in_the_pages() {
    let server = TestServer::builder().localhost().start();
    let base = server.base_url();
    assert!(base.starts_with("http://localhost:"), "{base}");
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let (owner, member) = (
        format!("owner-{u}@example.test"),
        format!("member-{u}@example.test"),
    );
    create_user(&mut ia, &owner, None, Some(PW));
    let member_id = create_user(&mut ia, &member, None, Some(PW));
    let org = create_org(&mut ia, "Passkey Org", &format!("pk-{u}"), Some(&owner));
    add_member(&mut ia, &org, &member, "member", json!("all"));

    let b = Browser::start();
    let authenticator = b.add_virtual_authenticator();
    submit_password(&b, &base, &member, PW);
    lands_on_settings(&b, &base);

    // Add a passkey from Personal > Security: named, then listed.
    security(&b, &base);
    assert!(
        b.text().contains("You have no passkey yet."),
        "{}",
        b.text()
    );
    b.wait_for("the add form (shown by the script)", WAIT, |_, _| {
        b.execute(
            "var f = document.getElementById('passkey-add'); return !!f && !f.hidden;",
            json!([]),
        ) == json!(true)
    });
    b.assert_accessible("Security with the Passkeys section");
    b.type_into("#passkey-name", "Work laptop");
    b.click("#passkey-add button[type=submit]");
    b.wait_for("the passkey added", WAIT, |url, _| {
        url.contains("notice=passkey_added") && b.text().contains("The passkey is added")
    });
    let rows = b.texts("#passkeys tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("Work laptop") && rows[0].contains("Never"),
        "{rows:?}"
    );
    let creds = b.virtual_credentials(&authenticator);
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(
        creds[0]["isResidentCredential"],
        json!(true),
        "a discoverable passkey: {creds:?}"
    );
    b.assert_accessible("Security with a passkey");
    assert!(
        b.exists("#two-step-by-passkey"),
        "the passkey is the second step: {}",
        b.text()
    );
    // The owner's Admin Team page counts it as two-step sign-in.
    let mut os = server.session();
    expect(
        &os.post_json(
            "/api/v1/auth/login",
            &json!({"email": owner, "password": PW}),
        ),
        200,
        "owner signs in",
    );
    let team = os.get(&format!("/settings/orgs/{org}/admin-team")).text();
    let row = team
        .split("<tr>")
        .find(|r| r.contains(member.as_str()))
        .unwrap_or_default()
        .to_string();
    assert!(row.contains("<td>On</td>"), "{row}");
    sign_out(&b, &base);

    // The password now asks for a second step: the passkey (no code form: no authenticator
    // app).
    submit_password(&b, &base, &member, PW);
    b.wait_for("the second step", WAIT, |url, html| {
        url.starts_with(&format!("{base}/login/two-step"))
            && html.contains("<h1>Two-step sign-in</h1>")
    });
    assert!(
        !b.exists("#code"),
        "no code form without an authenticator app"
    );
    b.wait_for("the passkey button", WAIT, |_, _| {
        b.execute(
            "var f = document.getElementById('passkey-second-step'); return !!f && !f.hidden;",
            json!([]),
        ) == json!(true)
    });
    b.assert_accessible("the second step with a passkey");
    b.click("#passkey-second-step button[type=submit]");
    lands_on_settings(&b, &base);
    security(&b, &base);
    let rows = b.texts("#passkeys tbody tr");
    assert!(!rows[0].contains("Never"), "last used is set: {rows:?}");
    sign_out(&b, &base);

    // Password-less: nothing typed, the passkey names the account.
    b.goto(&format!("{base}/login"));
    b.wait_for("the passkey sign-in", WAIT, |_, _| {
        b.execute(
            "var f = document.getElementById('passkey-sign-in'); return !!f && !f.hidden;",
            json!([]),
        ) == json!(true)
    });
    b.assert_accessible("the sign-in page with passkeys");
    b.click("#passkey-sign-in button[type=submit]");
    lands_on_settings(&b, &base);
    b.goto(&format!("{base}/api/v1/me"));
    assert!(b.source().contains(&member), "signed in as the member");

    // Remove it: the passkey confirms first.
    security(&b, &base);
    assert!(b
        .text()
        .contains("Removing a passkey asks for a fresh second step"));
    b.click("#passkeys form button[type=submit]");
    b.accept_dialog();
    b.wait_for("the passkey removed", WAIT, |url, _| {
        url.contains("notice=passkey_removed") && b.text().contains("You have no passkey yet.")
    });
    sign_out(&b, &base);

    // The password alone signs in again.
    submit_password(&b, &base, &member, PW);
    lands_on_settings(&b, &base);

    // Audited in the member's organization and emailed.
    let acts = actions(&mut os, &org);
    assert!(acts.iter().any(|a| a == "user.passkey_added"), "{acts:?}");
    assert!(acts.iter().any(|a| a == "user.passkey_removed"), "{acts:?}");
    assert_eq!(
        outbox_count(server.data_dir(), &member, "two_step_changed"),
        2,
        "an email for the added and one for the removed passkey"
    );

    // A new passkey; the owner's reset of the member's second step removes it.
    security(&b, &base);
    b.type_into("#passkey-name", "Phone");
    b.click("#passkey-add button[type=submit]");
    b.wait_for("the passkey added", WAIT, |url, _| {
        url.contains("notice=passkey_added") && b.text().contains("Phone")
    });
    expect(
        &os.delete(&format!("/api/v1/orgs/{org}/members/{member_id}/two-step")),
        204,
        "owner resets",
    );
    security(&b, &base);
    assert!(
        b.text().contains("You have no passkey yet."),
        "{}",
        b.text()
    );
    assert_eq!(
        outbox_count(server.data_dir(), &member, "two_step_changed"),
        4,
        "added, removed, added, reset"
    );
}

/// Replaces the origin in a credential's client data (a forged answer).
fn forge_origin(cred: &Value) -> Value {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = b64
        .decode(cred["response"]["clientDataJSON"].as_str().unwrap())
        .unwrap();
    let mut data: Value = serde_json::from_slice(&raw).unwrap();
    data["origin"] = json!("https://evil.example");
    let mut forged = cred.clone();
    forged["response"]["clientDataJSON"] = json!(b64.encode(serde_json::to_vec(&data).unwrap()));
    forged
}

#[test]
fn passkey_api_second_step_and_bad_input() {
    let server = TestServer::builder().localhost().start();
    let base = server.base_url();
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let (alice, bob) = (
        format!("alice-{u}@example.test"),
        format!("bob-{u}@example.test"),
    );
    create_user(&mut ia, &alice, None, Some(PW));
    create_user(&mut ia, &bob, None, Some(PW));

    let b = Browser::start();
    b.add_virtual_authenticator();
    b.goto(&format!("{base}/login"));

    let mut a = login(&server, &alice, PW);
    let listed = expect(&a.get("/api/v1/me/passkeys"), 200, "list");
    assert_eq!(listed, json!({"available": true, "passkeys": []}));
    let options = |s: &mut Session| -> Value {
        let v = expect(
            &s.post_json("/api/v1/me/passkeys/registration/options", &json!({})),
            200,
            "registration options",
        );
        assert_eq!(v["expires_in"], 300, "{v}");
        assert_eq!(
            v["options"]["publicKey"]["rp"]["id"], "localhost",
            "the RP ID is public_url's host: {v}"
        );
        assert_eq!(
            v["options"]["publicKey"]["authenticatorSelection"]["residentKey"], "required",
            "{v}"
        );
        v
    };

    // Garbled answers: 400 `passkey_invalid`, and the ceremony is spent.
    let o1 = options(&mut a);
    let garbled = a.post_json(
        "/api/v1/me/passkeys/registration",
        &json!({"ceremony": o1["ceremony"], "name": "Key", "credential": {"id": "x", "type": "public-key"}}),
    );
    expect_problem(&garbled, 400, "passkey_invalid", "garbled credential");
    let not_json = a.request(
        "POST",
        "/api/v1/me/passkeys/registration",
        &[("Content-Type", "application/json")],
        Some(b"{\"ceremony\": "),
    );
    expect_problem(&not_json, 400, "invalid_json", "not JSON");
    // A real answer to a spent ceremony: refused.
    let real = authenticator_answer(&b, &o1["options"]);
    let spent = a.post_json(
        "/api/v1/me/passkeys/registration",
        &json!({"ceremony": o1["ceremony"], "name": "Key", "credential": real}),
    );
    expect_problem(&spent, 400, "passkey_ceremony_invalid", "spent ceremony");

    // A forged answer (client data of another origin): 400 `passkey_invalid`.
    let o2 = options(&mut a);
    let cred2 = authenticator_answer(&b, &o2["options"]);
    let forged = a.post_json(
        "/api/v1/me/passkeys/registration",
        &json!({"ceremony": o2["ceremony"], "name": "Key", "credential": forge_origin(&cred2)}),
    );
    expect_problem(&forged, 400, "passkey_invalid", "forged origin");

    // A name is required.
    let o3 = options(&mut a);
    let cred3 = authenticator_answer(&b, &o3["options"]);
    let unnamed = a.post_json(
        "/api/v1/me/passkeys/registration",
        &json!({"ceremony": o3["ceremony"], "name": "  ", "credential": cred3}),
    );
    expect_field(&unnamed, "name", "empty name");

    // Registered; the same answer again (a replayed ceremony) is refused.
    let o4 = options(&mut a);
    let cred4 = authenticator_answer(&b, &o4["options"]);
    let body = json!({"ceremony": o4["ceremony"], "name": "Phone", "credential": cred4});
    let key = expect(
        &a.post_json("/api/v1/me/passkeys/registration", &body),
        201,
        "register",
    );
    assert_eq!(key["name"], "Phone");
    assert!(key["last_used_at"].is_null(), "{key}");
    let pk = key["id"].as_str().unwrap().to_string();
    assert!(pk.starts_with("pk_"), "{pk}");
    let replay = a.post_json("/api/v1/me/passkeys/registration", &body);
    expect_problem(
        &replay,
        400,
        "passkey_ceremony_invalid",
        "replayed ceremony",
    );
    let status = expect(&a.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(status["passkeys"], 1, "{status}");
    assert_eq!(status["enabled"], false, "no authenticator app: {status}");

    // Another person's passkey: 404, and Bob's own list is empty.
    let mut bs = login(&server, &bob, PW);
    expect_problem(
        &bs.patch_json(
            &format!("/api/v1/me/passkeys/{pk}"),
            &json!({"name": "Mine"}),
        ),
        404,
        "not_found",
        "rename another's passkey",
    );
    expect_problem(
        &bs.delete(&format!("/api/v1/me/passkeys/{pk}")),
        404,
        "not_found",
        "remove another's passkey",
    );
    let listed = expect(&bs.get("/api/v1/me/passkeys"), 200, "Bob's list");
    assert_eq!(listed["passkeys"], json!([]));

    // Rename.
    let renamed = expect(
        &a.patch_json(
            &format!("/api/v1/me/passkeys/{pk}"),
            &json!({"name": "Old phone"}),
        ),
        200,
        "rename",
    );
    assert_eq!(renamed["name"], "Old phone");

    // The password now answers `mfa_required` with `passkey`; the API finishes with it.
    let mut s = server.session();
    let r = s.post_json(
        "/api/v1/auth/login",
        &json!({"email": alice, "password": PW}),
    );
    let mfa = expect_problem(&r, 401, "mfa_required", "password step");
    assert_eq!(mfa["methods"], json!(["passkey"]), "{mfa}");
    let ch = mfa["challenge"].as_str().unwrap().to_string();
    let so = expect(
        &s.post_json(
            "/api/v1/auth/login/two-step/passkey/options",
            &json!({"challenge": ch}),
        ),
        200,
        "second-step options",
    );
    let allowed = so["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(allowed.len(), 1, "Alice's one passkey: {so}");
    let assertion = authenticator_answer(&b, &so["options"]);
    // A garbled answer: 400, the ceremony is spent.
    expect_problem(
        &s.post_json(
            "/api/v1/auth/login/two-step/passkey",
            &json!({"challenge": ch, "ceremony": so["ceremony"], "credential": "garbage"}),
        ),
        400,
        "passkey_invalid",
        "garbled assertion",
    );
    expect_problem(
        &s.post_json(
            "/api/v1/auth/login/two-step/passkey",
            &json!({"challenge": ch, "ceremony": so["ceremony"], "credential": assertion}),
        ),
        400,
        "passkey_ceremony_invalid",
        "the spent ceremony",
    );
    let so = expect(
        &s.post_json(
            "/api/v1/auth/login/two-step/passkey/options",
            &json!({"challenge": ch}),
        ),
        200,
        "second-step options again",
    );
    let assertion = authenticator_answer(&b, &so["options"]);
    let finish = json!({"challenge": ch, "ceremony": so["ceremony"], "credential": assertion});
    let me = expect(
        &s.post_json("/api/v1/auth/login/two-step/passkey", &finish),
        200,
        "finish with the passkey",
    );
    assert_eq!(me["email"], alice.as_str());
    assert!(s.cookie.is_some(), "a session");
    // Replayed: the challenge and the ceremony are used.
    let mut again = server.session();
    expect_problem(
        &again.post_json("/api/v1/auth/login/two-step/passkey", &finish),
        401,
        "two_step_challenge_invalid",
        "replayed second step",
    );
    let listed = expect(&s.get("/api/v1/me/passkeys"), 200, "list");
    assert!(
        listed["passkeys"][0]["last_used_at"].is_string(),
        "{listed}"
    );

    // Removing needs a fresh check first.
    expect_problem(
        &s.delete(&format!("/api/v1/me/passkeys/{pk}")),
        403,
        "passkey_verification_required",
        "remove without a check",
    );
    let vo = expect(
        &s.post_json("/api/v1/me/passkeys/verification/options", &json!({})),
        200,
        "verification options",
    );
    expect_problem(
        &s.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{pk}"),
            &json!({"ceremony": vo["ceremony"], "credential": {"id": 1}}),
        ),
        400,
        "passkey_invalid",
        "a garbled check",
    );
    let vo = expect(
        &s.post_json("/api/v1/me/passkeys/verification/options", &json!({})),
        200,
        "verification options again",
    );
    let check = authenticator_answer(&b, &vo["options"]);
    expect(
        &s.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{pk}"),
            &json!({"ceremony": vo["ceremony"], "credential": check}),
        ),
        204,
        "remove with a check",
    );
    expect(
        &server.session().post_json(
            "/api/v1/auth/login",
            &json!({"email": alice, "password": PW}),
        ),
        200,
        "the password alone again",
    );
}

/// Registers a passkey for `s` over the API with the browser's virtual authenticator. With
/// `replace`, the authenticator is not told of the person's other passkeys, so it makes a new
/// one in place of the one it holds (the server then has both, the authenticator the new one).
fn register(s: &mut Session, b: &Browser, name: &str, replace: bool) -> String {
    let mut o = expect(
        &s.post_json("/api/v1/me/passkeys/registration/options", &json!({})),
        200,
        "registration options",
    );
    if replace {
        o["options"]["publicKey"]["excludeCredentials"] = json!([]);
    }
    let cred = authenticator_answer(b, &o["options"]);
    let key = expect(
        &s.post_json(
            "/api/v1/me/passkeys/registration",
            &json!({"ceremony": o["ceremony"], "name": name, "credential": cred}),
        ),
        201,
        "register",
    );
    key["id"].as_str().unwrap().to_string()
}

#[test]
fn removing_any_passkey_needs_a_fresh_second_step() {
    let server = TestServer::builder().localhost().start();
    let base = server.base_url();
    let mut ia = server.bootstrap_admin();
    let alice = format!("alice-{}@example.test", uniq());
    create_user(&mut ia, &alice, None, Some(PW));
    let b = Browser::start();
    b.add_virtual_authenticator();
    b.goto(&format!("{base}/login"));
    let mut a = login(&server, &alice, PW);

    // Two passkeys: removing one, though the other remains, needs a fresh check.
    let first = register(&mut a, &b, "Laptop", false);
    let second = register(&mut a, &b, "Phone", true);
    let refused = expect_problem(
        &a.delete(&format!("/api/v1/me/passkeys/{first}")),
        403,
        "passkey_verification_required",
        "remove one of two without a check",
    );
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("passkey") && !detail.contains("authenticator app"),
        "no authenticator app, so only a passkey: {refused}"
    );
    // Without the authenticator app a code proves nothing.
    expect_problem(
        &a.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{first}"),
            &json!({"code": "123456"}),
        ),
        403,
        "passkey_verification_required",
        "a code without the authenticator app",
    );
    // Checked with the other passkey (the one the authenticator holds): removed.
    let vo = expect(
        &a.post_json("/api/v1/me/passkeys/verification/options", &json!({})),
        200,
        "verification options",
    );
    let check = authenticator_answer(&b, &vo["options"]);
    expect(
        &a.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{first}"),
            &json!({"ceremony": vo["ceremony"], "credential": check}),
        ),
        204,
        "remove one of two with a passkey check",
    );
    let listed = expect(&a.get("/api/v1/me/passkeys"), 200, "list");
    assert_eq!(
        listed["passkeys"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(listed["passkeys"][0]["id"], second.as_str(), "{listed}");

    // With the authenticator app too: a current code also confirms, a wrong one is refused
    // as turning the app off refuses it.
    let (secret, _recovery, step) = enrol(&mut a);
    let refused = expect_problem(
        &a.delete(&format!("/api/v1/me/passkeys/{second}")),
        403,
        "passkey_verification_required",
        "remove without proof while the app is on",
    );
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("passkey") && detail.contains("code"),
        "both ways named: {refused}"
    );
    let current = code_at(&secret, step + 1);
    let wrong = format!("{:06}", (current.parse::<u32>().unwrap() + 1) % 1_000_000);
    expect_problem(
        &a.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{second}"),
            &json!({"code": wrong}),
        ),
        401,
        "two_step_code_invalid",
        "a wrong code",
    );
    expect_problem(
        &a.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{second}"),
            &json!({"code": current, "ceremony": "x"}),
        ),
        400,
        "invalid_json",
        "a code and part of a check at once",
    );
    expect(
        &a.send_json(
            "DELETE",
            &format!("/api/v1/me/passkeys/{second}"),
            &json!({"code": current}),
        ),
        204,
        "remove with a current code",
    );
    let listed = expect(&a.get("/api/v1/me/passkeys"), 200, "list");
    assert_eq!(listed["passkeys"], json!([]), "{listed}");
    let status = expect(&a.get("/api/v1/me/two-step"), 200, "status");
    assert_eq!(status["enabled"], true, "the app stays on: {status}");
}

#[test]
fn removing_a_passkey_in_the_pages_with_a_passkey_or_a_code() {
    let server = TestServer::builder().localhost().start();
    let base = server.base_url();
    let mut ia = server.bootstrap_admin();
    let carol = format!("carol-{}@example.test", uniq());
    create_user(&mut ia, &carol, None, Some(PW));
    let b = Browser::start();
    b.add_virtual_authenticator();
    b.goto(&format!("{base}/login"));
    // The authenticator app and two passkeys (the authenticator holds the second), set up
    // over the API; the session goes on in the browser.
    let mut c = login(&server, &carol, PW);
    let (secret, _recovery, step) = enrol(&mut c);
    let laptop = register(&mut c, &b, "Laptop", false);
    let phone = register(&mut c, &b, "Phone", true);
    b.add_cookie("tenantry_session", c.cookie.as_deref().expect("a session"));
    security(&b, &base);
    assert!(
        b.exists(&format!("#passkey-code-{laptop}")) && b.exists(&format!("#passkey-code-{phone}")),
        "a code field next to each Remove: {}",
        b.source()
    );
    assert!(
        b.text()
            .contains("or enter a current code from your authenticator app"),
        "{}",
        b.text()
    );
    b.assert_accessible("Security with passkeys and the authenticator app");

    // No code typed: the browser confirms with a passkey (the other one), then removes.
    b.click(&format!(
        "form[action$='/passkeys/{laptop}/remove'] button[type=submit]"
    ));
    b.accept_dialog();
    b.wait_for("Laptop removed", WAIT, |url, _| {
        url.contains("notice=passkey_removed") && !b.text().contains("Laptop")
    });

    // A wrong code: refused, nothing removed.
    let current = code_at(&secret, step + 1);
    let wrong = format!("{:06}", (current.parse::<u32>().unwrap() + 1) % 1_000_000);
    b.type_into(&format!("#passkey-code-{phone}"), &wrong);
    b.click(&format!(
        "form[action$='/passkeys/{phone}/remove'] button[type=submit]"
    ));
    b.accept_dialog();
    b.wait_for("the code refused", WAIT, |_, html| {
        html.contains("id=\"passkey-error\"")
    });
    assert!(b.text().contains("This code is wrong"), "{}", b.text());
    // A current code: removed without a passkey check.
    security(&b, &base);
    b.type_into(&format!("#passkey-code-{phone}"), &current);
    b.click(&format!(
        "form[action$='/passkeys/{phone}/remove'] button[type=submit]"
    ));
    b.accept_dialog();
    b.wait_for("Phone removed", WAIT, |url, _| {
        url.contains("notice=passkey_removed") && b.text().contains("You have no passkey yet.")
    });
    let listed = expect(&c.get("/api/v1/me/passkeys"), 200, "list");
    assert_eq!(listed["passkeys"], json!([]), "{listed}");
}

#[test]
fn passkeys_need_a_domain() {
    // Without `public_url`, the server is named by its IP address: no passkeys.
    let server = TestServer::start();
    let mut ia = server.bootstrap_admin();
    let listed = expect(&ia.get("/api/v1/me/passkeys"), 200, "list");
    assert_eq!(listed["available"], false, "{listed}");
    expect_problem(
        &ia.post_json("/api/v1/me/passkeys/registration/options", &json!({})),
        409,
        "passkeys_unavailable",
        "registration on an IP address",
    );
    let page = ia.get("/login");
    assert!(
        !page.text().contains("Sign in with a passkey"),
        "the sign-in page offers no passkey"
    );
    let security = ia.get("/settings/personal/security");
    assert!(
        security
            .text()
            .contains("Passkeys are not available on this server"),
        "{}",
        security.text()
    );
}

#[test]
fn passwordless_answers_are_throttled_per_client() {
    use crate::support::forms::{csrf_cookie, input_value, post_form_with_csrf};
    let server = TestServer::builder().localhost().start();
    let mut s = server.session();
    let page = s.get("/login");
    assert!(page.text().contains("Sign in with a passkey"));
    let cookie = csrf_cookie(&page).expect("the pre-session CSRF cookie");
    let token = input_value(&page.text(), "csrf_token").expect("the form token");
    // Without the form token the options are refused.
    let r = post_form_with_csrf(&mut s, "/login/passkey/options", &cookie, &[]);
    expect_problem(&r, 403, "csrf_failed", "options without the token");
    let mut statuses = Vec::new();
    for _ in 0..32 {
        let r = post_form_with_csrf(
            &mut s,
            "/login/passkey/options",
            &cookie,
            &[("csrf_token", &token)],
        );
        let o = expect(&r, 200, "password-less options");
        assert!(
            o["options"]["publicKey"]
                .get("allowCredentials")
                .is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)),
            "names no account: {o}"
        );
        assert!(o["options"].get("mediation").is_none(), "{o}");
        let r = post_form_with_csrf(
            &mut s,
            "/login/passkey",
            &cookie,
            &[
                ("csrf_token", &token),
                ("ceremony", o["ceremony"].as_str().unwrap()),
                ("credential", "{\"id\": \"forged\"}"),
            ],
        );
        assert!(s.cookie.is_none(), "no session from a forged answer");
        statuses.push(r.status);
        if r.status == 429 {
            assert!(r.header("retry-after").is_some());
            assert!(r.text().contains("Too many attempts"), "{}", r.text());
            break;
        }
        assert_eq!(r.status, 401, "{}", r.text());
        assert!(r.text().contains("That passkey did not sign you in"));
    }
    assert_eq!(statuses.last(), Some(&429), "throttled: {statuses:?}");
}
