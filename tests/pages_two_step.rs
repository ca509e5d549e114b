//! Two-step sign-in in a real headless browser: enrolment from Personal > Security
//! with the QR code and the secret as text (the code is computed here from the secret shown),
//! recovery codes shown once, signing in with a code and with a recovery code, a replayed code
//! refused, wrong codes throttled, and an owner's reset from the Admin Team pages. axe-core
//! checks each new page.

use serde_json::json;

use crate::orgs_matrix::{add_member, expect, expect_problem, uniq, PW};
use crate::support::browser::Browser;
use crate::support::flows::{create_org, create_user, try_login, wait_out_throttle};
use crate::support::pages::{
    lands_on_settings, left_marked_page, mark_page, open, sign_out, submit_password, WAIT,
};
use crate::support::TestServer;
use crate::two_step::{code_at, now_step};

/// The password step; waits for the page that asks for the code.
fn password_step(b: &Browser, base: &str, email: &str) {
    submit_password(b, base, email, PW);
    b.wait_for("the two-step page", WAIT, |url, html| {
        url.starts_with(&format!("{base}/login/two-step"))
            && html.contains("<h1>Two-step sign-in</h1>")
    });
}

/// Enters a code on the two-step page (marked, so that a wait can tell the answer from it).
fn enter_code(b: &Browser, code: &str) {
    b.clear("#code");
    b.type_into("#code", code);
    mark_page(b);
    b.click("form[action='/login/two-step'] button[type=submit]");
}

#[test]
fn authenticator_enrolment_sign_in_recovery_and_owner_reset() {
    let server = TestServer::start();
    let base = server.base_url();
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let (owner, member) = (
        format!("owner-{u}@example.test"),
        format!("member-{u}@example.test"),
    );
    create_user(&mut ia, &owner, None, Some(PW));
    let member_id = create_user(&mut ia, &member, None, Some(PW));
    let org = create_org(
        &mut ia,
        "Browser Org",
        &format!("browser-{u}"),
        Some(&owner),
    );
    add_member(&mut ia, &org, &member, "member", json!("all"));

    let b = Browser::start();
    // Before enrolment the password alone signs in.
    b.goto(&format!("{base}/login"));
    b.type_into("#email", &member);
    b.type_into("#password", PW);
    b.click("button[type=submit]");
    lands_on_settings(&b, &base);

    // Enrol: the page shows a QR code (inline SVG) and the secret as text.
    open(&b, &base, "/settings/personal/security", "Security");
    assert!(b.text().contains("Off."), "{}", b.text());
    b.click("form[action='/settings/personal/security/two-step/start'] button[type=submit]");
    b.wait_for("the QR code", WAIT, |_, _| b.exists(".qr svg"));
    assert_eq!(
        b.attr(".qr svg", "aria-label").as_deref(),
        Some("QR code for your authenticator app")
    );
    let secret = b.texts("#totp-secret").pop().expect("the secret as text");
    assert!(secret.len() >= 32, "{secret}");
    b.assert_accessible("Security, enrolling an authenticator");
    // A wrong code: the error is beside the field, nothing is on.
    let confirm = "form[action='/settings/personal/security/two-step/confirm']";
    b.type_into("#f-code", "999999x");
    b.click(&format!("{confirm} button[type=submit]"));
    b.wait_for("the field error", WAIT, |_, _| {
        b.text().contains("Must be the 6-digit code your app shows")
    });
    assert!(b.exists("#f-code[aria-invalid=true]"));
    let step = now_step();
    b.type_into("#f-code", &code_at(&secret, step));
    b.click(&format!("{confirm} button[type=submit]"));
    b.wait_for("the recovery codes", WAIT, |_, _| {
        b.text().contains("Two-step sign-in is on")
    });
    let codes = b.texts("#recovery-codes li");
    assert_eq!(codes.len(), 10, "{codes:?}");
    b.assert_accessible("recovery codes");
    // Shown once: the Security page does not show them again.
    open(&b, &base, "/settings/personal/security", "Security");
    let text = b.text();
    assert!(text.contains("Unused recovery codes: 10 of 10."), "{text}");
    assert!(!text.contains(&codes[0]), "recovery codes shown again");
    assert!(!b.exists(".qr svg"), "the QR code is gone once on");
    b.assert_accessible("Security, two-step on");
    sign_out(&b, &base);

    // Sign in: the password, then a code. The enrolment's code was used: refused.
    password_step(&b, &base, &member);
    b.assert_accessible("the two-step page");
    enter_code(&b, &code_at(&secret, step));
    b.wait_for("the replay refusal", WAIT, |_, _| {
        b.text().contains("This code is wrong or was already used")
    });
    enter_code(&b, &code_at(&secret, step + 1));
    lands_on_settings(&b, &base);
    sign_out(&b, &base);

    // A recovery code instead, once.
    password_step(&b, &base, &member);
    enter_code(&b, &codes[0]);
    lands_on_settings(&b, &base);
    open(&b, &base, "/settings/personal/security", "Security");
    assert!(
        b.text().contains("Unused recovery codes: 9 of 10."),
        "{}",
        b.text()
    );
    sign_out(&b, &base);
    password_step(&b, &base, &member);
    enter_code(&b, &codes[0]);
    b.wait_for("a used recovery code refused", WAIT, |_, _| {
        b.text().contains("This code is wrong or was already used")
    });

    // Wrong codes are throttled: five wrong codes (the used recovery code was the first) spend
    // the sign-in; the right password does not clear the count, and one more wrong code locks
    // the account, the right code included.
    for i in 0..4 {
        enter_code(&b, &code_at(&secret, step + 500 + i));
        if i < 3 {
            // The page before said the same: wait for the answer's page.
            b.wait_for("wrong code", WAIT, |_, _| {
                left_marked_page(&b) && b.text().contains("This code is wrong or was already used")
            });
        }
    }
    b.wait_for("back to the password", WAIT, |url, _| {
        url.starts_with(&format!("{base}/login")) && b.text().contains("Too many wrong codes")
    });
    // The fifth wrong code locked the account for a moment: wait that out over the API (the
    // password step answers `mfa_required` again, as the page's will).
    let r = wait_out_throttle(|| try_login(&server, &member, PW).1);
    expect_problem(&r, 401, "mfa_required", "password step after the lock");
    password_step(&b, &base, &member);
    enter_code(&b, &code_at(&secret, step + 600));
    b.wait_for("wrong code", WAIT, |_, _| {
        b.text().contains("This code is wrong or was already used")
    });
    enter_code(&b, &codes[1]);
    b.wait_for("the throttle", WAIT, |_, _| {
        b.text().contains("Too many attempts. Try again in")
    });
    assert!(!b.url().ends_with("/settings"), "signed in while throttled");

    // The owner resets the member's second step from the Admin Team pages.
    let ob = Browser::start();
    ob.goto(&format!("{base}/login"));
    ob.type_into("#email", &owner);
    ob.type_into("#password", PW);
    ob.click("button[type=submit]");
    lands_on_settings(&ob, &base);
    let team = format!("/settings/orgs/{org}/admin-team");
    open(&ob, &base, &team, "Admin Team");
    let row = |who: &str| -> String {
        ob.execute(
            "var t = arguments[0]; var r = Array.from(document.querySelectorAll('tbody tr')).filter(function (r) { return r.textContent.indexOf(t) >= 0; })[0]; return r ? r.textContent : '';",
            json!([who]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    };
    assert!(row(&member).contains("On"), "{}", row(&member));
    assert!(ob.text().contains("single sign-on are exempt"));
    open(
        &ob,
        &base,
        &format!("{team}/members/{member_id}"),
        "Change member",
    );
    ob.assert_accessible("member page with the reset");
    ob.click(&format!(
        "form[action='{team}/members/{member_id}/two-step/reset'] button"
    ));
    ob.accept_dialog();
    ob.wait_for("the reset notice", WAIT, |_, _| {
        ob.text().contains("Two-step sign-in is reset")
    });
    assert!(row(&member).contains("Off"), "{}", row(&member));

    // The member signs in with the password only again (once the throttle has passed).
    let r = wait_out_throttle(|| try_login(&server, &member, PW).1);
    expect(&r, 200, "password only after the reset");
}
