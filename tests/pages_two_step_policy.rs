//! The organization's two-step sign-in policy in a real headless browser: an owner
//! requires it from the Admin Team page with a grace period; a member without it sees the
//! deadline on the organization's pages, and once it has passed is sent to Personal > Security
//! with a notice naming the organization, enrols there (the code computed here from the
//! secret shown) and reaches the organization again. The Team page tells who is exempt
//! (single sign-on) and who still has to enrol. axe-core checks each new page.

use std::time::Duration;

use serde_json::json;

use crate::orgs_matrix::{add_member, uniq, PW};
use crate::support::browser::Browser;
use crate::support::flows::{create_org, create_user, login};
use crate::support::pages::{open, WAIT};
use crate::support::TestServer;
use crate::two_step::{code_at, now_step};
use crate::two_step_policy::enrol_api;

/// The text of the Team table row that names `who`.
fn row(b: &Browser, who: &str) -> String {
    b.execute(
        "var t = arguments[0]; var r = Array.from(document.querySelectorAll('tbody tr')).filter(function (r) { return r.textContent.indexOf(t) >= 0; })[0]; return r ? r.textContent : '';",
        json!([who]),
    )
    .as_str()
    .unwrap_or_default()
    .to_string()
}

fn save_policy(b: &Browser, require: &str, grace: &str) {
    let form = "form[action$='/admin-team/two-step-policy']";
    b.select(&format!("{form} #f-require_two_step"), require);
    b.clear(&format!("{form} #f-grace_days"));
    b.type_into(&format!("{form} #f-grace_days"), grace);
    b.click(&format!("{form} button[type=submit]"));
    b.wait_for("the saved notice", WAIT, |_, _| {
        b.text().contains("The two-step sign-in policy is saved.")
    });
}

#[test]
fn a_member_is_warned_then_sent_to_enrol_and_let_back_in() {
    let server = TestServer::start();
    let base = server.base_url();
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let (owner, member, sso) = (
        format!("owner-{u}@example.test"),
        format!("member-{u}@example.test"),
        format!("sso-{u}@example.test"),
    );
    for e in [&owner, &member, &sso] {
        create_user(&mut ia, e, None, Some(PW));
    }
    let org = create_org(&mut ia, "Acme", &format!("acme-{u}"), Some(&owner));
    add_member(&mut ia, &org, &member, "member", json!("all"));
    add_member(&mut ia, &org, &sso, "member", json!("all"));
    let db = rusqlite::Connection::open(server.data_dir().join("tenantry.db")).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE users SET auth = 'sso', sso_provider = 'Okta', password_hash = NULL WHERE email = ?1",
        [&sso],
    )
    .unwrap();
    // The owner signs in (through the API) and carries that session into the browser.
    let mut ow = login(&server, &owner, PW);
    let ob = Browser::start();
    ob.goto(&format!("{base}/login"));
    ob.add_cookie(
        "tenantry_session",
        ow.cookie.as_deref().expect("owner session"),
    );
    let team = format!("/settings/orgs/{org}/admin-team");
    open(&ob, &base, &team, "Admin Team");
    let text = ob.text();
    assert!(text.contains("Not required: each member decides"), "{text}");
    assert!(text.contains("single sign-on are exempt"), "{text}");
    ob.assert_accessible("Admin Team with the two-step policy form");
    // Without two-step sign-in of their own, the owner cannot require it.
    let form = "form[action$='/admin-team/two-step-policy']";
    ob.select(&format!("{form} #f-require_two_step"), "on");
    ob.click(&format!("{form} button[type=submit]"));
    ob.wait_for("the refusal", WAIT, |_, _| {
        ob.text()
            .contains("Turn on two-step sign-in for your own account first")
    });
    assert!(ob.text().contains("Not required: each member decides"));
    ob.assert_accessible("the policy refused");
    // With it (turned on through the API, same session), required with 30 days of grace.
    enrol_api(&mut ow);
    open(&ob, &base, &team, "Admin Team");
    save_policy(&ob, "on", "30");
    let text = ob.text();
    assert!(text.contains("Required from "), "{text}");
    assert!(
        text.contains("single sign-on are exempt: their identity provider decides"),
        "{text}"
    );
    assert!(
        row(&ob, &member).contains("Off (required by "),
        "{}",
        row(&ob, &member)
    );
    assert!(
        row(&ob, &sso).contains("Exempt (single sign-on)"),
        "{}",
        row(&ob, &sso)
    );
    assert!(row(&ob, &owner).contains("On"), "{}", row(&ob, &owner));
    // A grace period out of range is refused beside the field.
    ob.clear(&format!("{form} #f-grace_days"));
    ob.type_into(&format!("{form} #f-grace_days"), "120");
    ob.click(&format!("{form} button[type=submit]"));
    ob.wait_for("the field error", WAIT, |_, _| {
        ob.exists("#f-grace_days[aria-invalid=true]")
    });
    assert!(
        ob.text().contains("from 0 (enforced at once) to 90"),
        "{}",
        ob.text()
    );

    // The member, during the grace period: a banner on the organization's pages with the
    // deadline and a link to Security.
    let b = Browser::start();
    b.goto(&format!("{base}/login"));
    b.type_into("#email", &member);
    b.type_into("#password", PW);
    b.click("button[type=submit]");
    b.wait_for("Settings", WAIT, |url, _| url == format!("{base}/settings"));
    assert!(
        b.text().contains("Acme requires two-step sign-in from "),
        "{}",
        b.text()
    );
    open(&b, &base, &team, "Admin Team");
    let banner = b.texts(".banner").join(" ");
    assert!(
        banner.contains("Acme requires two-step sign-in from ")
            && banner.contains("Go to Security"),
        "{banner}"
    );
    assert_eq!(
        b.attr(".banner a", "href").as_deref(),
        Some("/settings/personal/security")
    );
    b.assert_accessible("an organization page with the two-step banner");

    // The owner ends the grace period (0 days counts from when it was turned on).
    open(&ob, &base, &team, "Admin Team");
    save_policy(&ob, "on", "0");
    assert!(
        row(&ob, &member).contains("Off (required since "),
        "{}",
        row(&ob, &member)
    );

    // Now the organization's pages send the member to Security, which names it.
    b.goto(&format!("{base}{team}"));
    b.wait_for("Security", WAIT, |url, html| {
        url.starts_with(&format!("{base}/settings/personal/security"))
            && html.contains("<h1>Security</h1>")
    });
    let banner = b.texts(".banner").join(" ");
    assert!(
        banner.contains("Acme requires two-step sign-in.")
            && banner.contains("closed to your account"),
        "{banner}"
    );
    b.assert_accessible("Security with the organization's requirement");
    // Personal pages stay open.
    open(&b, &base, "/settings/personal/general", "General");
    // Enrol, with the code computed from the secret shown.
    open(&b, &base, "/settings/personal/security", "Security");
    b.click("form[action='/settings/personal/security/two-step/start'] button[type=submit]");
    b.wait_for("the QR code", WAIT, |_, _| b.exists(".qr svg"));
    let secret = b.texts("#totp-secret").pop().expect("the secret as text");
    b.type_into("#f-code", &code_at(&secret, now_step()));
    b.click("form[action='/settings/personal/security/two-step/confirm'] button[type=submit]");
    b.wait_for("the recovery codes", WAIT, |_, _| {
        b.text().contains("Two-step sign-in is on")
    });
    // The organization is open again, without a banner.
    open(&b, &base, &team, "Admin Team");
    assert!(!b.exists(".banner"), "{}", b.text());
    open(&ob, &base, &team, "Admin Team");
    assert!(row(&ob, &member).contains("On"), "{}", row(&ob, &member));
}
