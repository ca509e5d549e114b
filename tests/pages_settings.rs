//! The settings pages in a real headless browser (Chromium through ChromeDriver), per persona:
//! the frame (landing, navigation from `/me/sections`, switcher, assets, both widths), the
//! Personal sections, Help and Developers, and the pages that explain a hidden section.
//! Data is set up through the API and CLI; every flow under test is driven through the pages
//! only. axe-core (npm, `tests/node`) checks every page; screenshots land in
//! `target/screenshots/`.

use serde_json::{json, Value};

use crate::orgs_matrix::{expect, World, P, PW};
use crate::support::browser::Browser;
use crate::support::db::{forge_session, outbox_count};
use crate::support::dns::{free_dns_port, Dnsmasq};
use crate::support::flows::{create_user, login};
use crate::support::pages::{open, sign_in, sign_out, submit, WAIT};
use crate::support::TestServer;

/// axe-core at 1280 px, then the page at 375 px must not scroll sideways; screenshots of both
/// widths when `shot` is given.
fn check_page(b: &Browser, what: &str, shot: Option<&str>) {
    b.set_width(1280);
    b.assert_accessible(what);
    if let Some(name) = shot {
        b.screenshot(&format!("{name}-1280"));
    }
    b.set_width(375);
    // The script (allowed by the CSP) folds the menu on a narrow screen, and unfolds it again.
    b.wait_for("the folded menu", WAIT, |_, _| {
        b.execute(
            "return document.querySelector('details.menu').open;",
            json!([]),
        ) == json!(false)
    });
    if let Some(out) = b.sideways_overflow() {
        panic!("{what} scrolls sideways at 375 px: {out}");
    }
    if let Some(name) = shot {
        b.screenshot(&format!("{name}-375"));
    }
    b.set_width(1280);
    b.wait_for("the unfolded menu", WAIT, |_, _| {
        b.execute(
            "return document.querySelector('details.menu').open;",
            json!([]),
        ) == json!(true)
    });
}

/// The navigation labels `GET /me/sections` gives a persona for its first organization and
/// its first company.
fn labels_from_api(w: &mut World, p: P) -> (Vec<String>, Vec<String>) {
    let v = expect(&w.s(p).get("/api/v1/me/sections"), 200, "sections");
    let label = |s: &Value| -> String {
        match s.as_str().unwrap() {
            "admin_team" => "Admin Team",
            "api_keys" => "API Keys",
            "billing" => "Billing",
            "data_repository" => "Data Repository",
            "single_sign_on" => "Single Sign-On",
            "audit_log" => "Audit Log",
            "sites" => "Sites",
            "data_preferences" => "Data Preferences",
            "members" => "Members",
            other => panic!("unexpected section {other}"),
        }
        .to_string()
    };
    let first = |k: &str| -> Vec<String> {
        v[k].as_array()
            .and_then(|a| a.first())
            .map(|o| {
                o["sections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(label)
                    .collect()
            })
            .unwrap_or_default()
    };
    (first("organizations"), first("companies"))
}

/// The link in the table row that mentions `text`.
fn row_link(b: &Browser, text: &str) -> String {
    b.execute(
        "var t = arguments[0]; var r = Array.from(document.querySelectorAll('tbody tr')).filter(function (r) { return r.textContent.indexOf(t) >= 0; })[0];\
         return r ? r.querySelector('a').getAttribute('href') : null;",
        json!([text]),
    )
    .as_str()
    .unwrap_or_else(|| panic!("no row with a link mentions {text}"))
    .to_string()
}

fn nav(b: &Browser, group: &str) -> Vec<String> {
    b.texts(&format!("ul[aria-labelledby=nav-{group}] a"))
}

/// Owner: signing in lands on Settings; the frame (navigation exactly as `/me/sections`,
/// company switcher, hashed long-cached assets, CSP-compatible stylesheet and script); every
/// Personal flow; Help with "Learn more"; Developers. Then an SSO user's General page.
#[test]
fn owner_personal_settings_help_and_developers() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let ow = w.emails[&P::OW].clone();
    let b = Browser::start();

    // Not signed in, a settings page sends to sign-in and comes back after it.
    b.goto(&format!("{base}/settings/personal/membership"));
    b.wait_for("the sign-in page", WAIT, |url, _| {
        url.contains("/login?next=")
    });
    b.type_into("#email", &ow);
    b.type_into("#password", PW);
    b.click("button[type=submit]");
    b.wait_for("the page asked for", WAIT, |url, html| {
        url == format!("{base}/settings/personal/membership")
            && html.contains("<h1>Membership</h1>")
    });
    sign_out(&b, &base);

    sign_in(&b, &base, &ow, PW);
    let (org_labels, company_labels) = labels_from_api(&mut w, P::OW);
    assert!(
        org_labels.contains(&"Admin Team".to_string()),
        "{org_labels:?}"
    );
    assert_eq!(
        nav(&b, "organization"),
        org_labels,
        "organization navigation"
    );
    assert_eq!(nav(&b, "company"), company_labels, "company navigation");
    assert_eq!(
        nav(&b, "personal"),
        ["General", "Preferences", "Membership", "Security"]
    );
    assert_eq!(nav(&b, "help").len(), 5);
    let text = b.text();
    assert!(
        text.contains("Org One") && text.contains("Company A"),
        "{text}"
    );
    // Three companies: the current one is named, a switcher lists the two others.
    let scopes = b.texts("nav .scope");
    assert_eq!(scopes.len(), 2, "{scopes:?}");
    assert_eq!(scopes[0], "Org One");
    let mut all = b.texts("nav details:not(.menu) a");
    assert_eq!(all.len(), 2, "{all:?}");
    all.push(scopes[1].clone());
    all.sort();
    assert_eq!(all, ["Company A", "Company B", "Company C"]);
    check_page(&b, "Settings overview", Some("settings-overview"));

    // One stylesheet and one script, content-hashed and cached for a year; the page's CSP
    // lets both run (the stylesheet's layout is applied).
    let css = b.attr("link[rel=stylesheet]", "href").unwrap();
    let js = b.attr("script[src]", "src").unwrap();
    for (href, kind) in [(&css, "text/css"), (&js, "text/javascript")] {
        assert!(
            href.starts_with("/assets/settings-")
                && href.len()
                    == "/assets/settings-".len() + 8 + href.rsplit('.').next().unwrap().len() + 1,
            "{href}"
        );
        let r = server.client().get(href);
        assert_eq!(r.status, 200, "{href}");
        assert!(
            r.header("content-type").unwrap().starts_with(kind),
            "{href}"
        );
        assert!(
            r.header("cache-control").unwrap().contains("immutable"),
            "{href}"
        );
    }
    assert_eq!(
        server.client().get("/assets/settings-00000000.css").status,
        404
    );
    assert_eq!(
        b.execute(
            "return getComputedStyle(document.querySelector('nav.side')).borderRightStyle;",
            json!([])
        ),
        json!("solid"),
        "the stylesheet is applied"
    );
    assert_eq!(
        b.execute(
            "return document.querySelectorAll('script:not([src])').length;",
            json!([])
        ),
        json!(0)
    );

    // General: a bad name keeps the value and says what is wrong beside the field.
    open(&b, &base, "/settings/personal/general", "General");
    b.clear("#f-name");
    b.type_into("#f-name", "   ");
    submit(&b, "/settings/personal/general/name", "Must not be empty.");
    assert_eq!(b.attr("#f-name", "aria-invalid").as_deref(), Some("true"));
    assert_eq!(b.texts("#f-name-error"), ["Must not be empty."]);
    check_page(&b, "General with an error", None);
    b.clear("#f-name");
    b.type_into("#f-name", "Olive <Owner>");
    submit(&b, "/settings/personal/general/name", "Your name is saved.");
    assert!(
        b.text().contains("Signed in as Olive <Owner>"),
        "{}",
        b.text()
    );
    assert_eq!(b.attr("#f-name", "value").as_deref(), Some("Olive <Owner>"));
    // Send password reset email: the email is queued.
    assert_eq!(outbox_count(server.data_dir(), &ow, "password_reset"), 0);
    submit(
        &b,
        "/settings/personal/general/password-reset",
        "We sent you an email with a link to choose a new password.",
    );
    assert_eq!(outbox_count(server.data_dir(), &ow, "password_reset"), 1);
    // The address is not confirmed yet: a new confirmation link can be sent from here.
    assert!(b.text().contains("not confirmed"), "{}", b.text());
    let before = outbox_count(server.data_dir(), &ow, "email_verification");
    submit(
        &b,
        "/settings/personal/general/verify-email",
        "We sent you an email with a link to confirm your address.",
    );
    assert_eq!(
        outbox_count(server.data_dir(), &ow, "email_verification"),
        before + 1
    );
    check_page(&b, "General", Some("settings-general"));
    // Learn more goes to the Personal settings help.
    b.click("p.learn a");
    b.wait_for("the personal help", WAIT, |url, html| {
        url.ends_with("/settings/help/personal") && html.contains("<h1>Personal settings</h1>")
    });

    // Preferences: a value outside the list is refused beside its field; then the time zone
    // and date format chosen are used for the dates on other pages.
    open(&b, &base, "/settings/personal/preferences", "Preferences");
    b.execute(
        "document.querySelector('#f-timezone option:checked').value = 'Mars/Olympus';",
        json!([]),
    );
    submit(
        &b,
        "/settings/personal/preferences",
        "Choose a time zone from the list.",
    );
    check_page(&b, "Preferences with an error", None);
    b.select("#f-timezone", "Asia/Tokyo");
    b.select("#f-date_format", "en-US");
    submit(
        &b,
        "/settings/personal/preferences",
        "Your preferences are saved.",
    );
    check_page(&b, "Preferences", None);

    // Membership: the organization and every company, with the role.
    open(&b, &base, "/settings/personal/membership", "Membership");
    let text = b.text();
    for want in [
        "Org One",
        "Owner",
        "All companies",
        "Company A",
        "Company B",
        "Company C",
        "Through the organization",
    ] {
        assert!(text.contains(want), "membership lacks {want}: {text}");
    }
    check_page(&b, "Membership", None);

    // Security: another session is listed with dates in the chosen zone and format, and
    // "Sign out other sessions" (after the confirm dialog) ends it.
    let mut other = login(&server, &ow, PW);
    open(&b, &base, "/settings/personal/security", "Security");
    let text = b.text();
    assert!(
        text.contains("This browser") && text.contains("Another browser"),
        "{text}"
    );
    assert!(
        text.contains("(Asia/Tokyo)"),
        "dates in the chosen zone: {text}"
    );
    let us_date = text
        .split_whitespace()
        .any(|t| t.len() == 10 && t.as_bytes()[2] == b'/' && t.as_bytes()[5] == b'/');
    assert!(us_date, "dates in the chosen format (MM/DD/YYYY): {text}");
    check_page(&b, "Security", Some("settings-security"));
    b.click("form[action='/settings/personal/security/sign-out-others'] button");
    b.accept_dialog();
    b.wait_for("the sign-out notice", WAIT, |_, _| {
        b.text().contains("You are now signed out everywhere else.")
    });
    assert!(!b.text().contains("Another browser"));
    assert_eq!(
        other.get("/api/v1/me").status,
        401,
        "the other session ended"
    );
    assert_eq!(
        w.s(P::OW).get("/api/v1/me").status,
        401,
        "so did the setup session"
    );

    // Help pages and Developers.
    for (slug, heading) in [
        ("overview", "Settings overview"),
        ("organization", "Organization settings"),
        ("personal", "Personal settings"),
        ("company", "Company settings"),
        ("faq", "Frequently asked questions"),
    ] {
        open(&b, &base, &format!("/settings/help/{slug}"), heading);
        assert_eq!(
            b.attr("ul[aria-labelledby=nav-help] a[aria-current=page]", "href")
                .as_deref(),
            Some(format!("/settings/help/{slug}").as_str())
        );
        check_page(&b, heading, None);
    }
    assert!(b.text().contains("How do I reset my password?"));
    open(&b, &base, "/settings/developers", "API guide");
    assert!(b.exists("main a[href='/api/v1/openapi.json']"));
    assert!(b.text().contains("Authorization"));
    check_page(&b, "Developers", None);
    sign_out(&b, &base);

    // An SSO user: no password here, the provider is named.
    let sso = "sam.sso@orgs.test";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tenantry"))
        .args([
            "user",
            "create",
            "--email",
            sso,
            "--name",
            "Sam Sso",
            "--sso",
            "okta",
            "--data-dir",
        ])
        .arg(server.data_dir())
        .env_remove("TENANTRY_EMAIL_MODE")
        .output()
        .expect("run tenantry user create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = w.s(P::IA).get("/api/v1/users?limit=100").json();
    let uid = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == sso)
        .map(|u| u["id"].as_str().unwrap().to_string())
        .expect("SSO user listed");
    b.add_cookie("tenantry_session", &forge_session(server.data_dir(), &uid));
    open(&b, &base, "/settings/personal/general", "General");
    let text = b.text();
    assert!(
        text.contains("Your password is managed by your IT administrator (okta)."),
        "{text}"
    );
    assert!(!b.exists("form[action='/settings/personal/general/password-reset']"));
    // No organization or company: those groups are absent, Personal is there.
    assert!(nav(&b, "organization").is_empty() && nav(&b, "company").is_empty());
    check_page(&b, "General (SSO user)", None);
}

/// A hidden section's address explains why and what to do, per persona: a member's role, a
/// feature switched off, a company-only member, a company viewer, an instance administrator
/// outside the organization; an unknown organization is "not found".
#[test]
fn hidden_sections_say_why_per_persona() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let org = w.org.clone();
    let a = w.a.clone();
    let b = Browser::start();

    // Member: navigation as the API says; API Keys is not part of the role.
    sign_in(&b, &base, &w.emails[&P::ME].clone(), PW);
    let (org_labels, company_labels) = labels_from_api(&mut w, P::ME);
    assert_eq!(nav(&b, "organization"), org_labels);
    assert_eq!(nav(&b, "company"), company_labels);
    assert!(
        !org_labels.contains(&"API Keys".to_string()),
        "{org_labels:?}"
    );
    open(
        &b,
        &base,
        &format!("/settings/orgs/{org}/api-keys"),
        "API Keys is not part of your role",
    );
    let text = b.text();
    assert!(
        text.contains(
            "Your role in Org One is Member, and managing API keys needs the role Owner or Admin."
        ),
        "{text}"
    );
    assert!(
        text.contains("Ask an owner or admin of Org One to change your role."),
        "{text}"
    );
    assert!(!text.contains('`') && !text.contains("api_keys"), "{text}");
    check_page(&b, "hidden section (role)", Some("settings-hidden-role"));
    sign_out(&b, &base);

    // Owner, with API keys switched off for the organization.
    expect(
        &w.s(P::IA).put_json(
            &format!("/api/v1/orgs/{org}/features"),
            &json!({"api_keys": false}),
        ),
        200,
        "switch api_keys off",
    );
    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    assert!(!nav(&b, "organization").contains(&"API Keys".to_string()));
    open(
        &b,
        &base,
        &format!("/settings/orgs/{org}/api-keys"),
        "API keys are switched off",
    );
    assert!(
        b.text().contains(
            "API keys are switched off for Org One — an instance administrator can turn them on."
        ),
        "{}",
        b.text()
    );
    check_page(&b, "hidden section (feature)", None);
    sign_out(&b, &base);

    // Company-only admin: no Organization scope at all.
    sign_in(&b, &base, &w.emails[&P::CA].clone(), PW);
    assert!(nav(&b, "organization").is_empty());
    assert_eq!(nav(&b, "company"), ["Sites", "Data Preferences", "Members"]);
    for path in [
        "/settings/organization/admin-team".to_string(),
        format!("/settings/orgs/{org}/admin-team"),
    ] {
        open(&b, &base, &path, "Admin Team is for organization members");
        let text = b.text();
        assert!(
            text.contains("You are a member of company Company A only"),
            "{text}"
        );
        assert!(
            text.contains("Ask an organization admin to add you to the organization."),
            "{text}"
        );
    }
    check_page(&b, "hidden section (company only)", None);
    sign_out(&b, &base);

    // Company viewer: Members is hidden.
    sign_in(&b, &base, &w.emails[&P::CV].clone(), PW);
    assert_eq!(nav(&b, "company"), ["Sites", "Data Preferences"]);
    open(
        &b,
        &base,
        &format!("/settings/companies/{a}/members"),
        "Members is not part of your role",
    );
    assert!(
        b.text()
            .contains("Your role in company Company A is Viewer"),
        "{}",
        b.text()
    );
    check_page(&b, "hidden section (viewer)", None);
    sign_out(&b, &base);

    // Instance administrator, not a member of the organization.
    b.goto(&format!("{base}/login"));
    b.type_into("#email", crate::support::server::ADMIN_EMAIL);
    b.type_into("#password", crate::support::server::ADMIN_PASSWORD);
    b.click("button[type=submit]");
    b.wait_for("Settings", WAIT, |url, _| url == format!("{base}/settings"));
    open(
        &b,
        &base,
        &format!("/settings/orgs/{org}/audit-log"),
        "Audit Log is for members of Org One",
    );
    assert!(
        b.text().contains("You are an instance administrator"),
        "{}",
        b.text()
    );
    // An organization that does not exist is simply not found.
    b.goto(&format!("{base}/settings/orgs/org_doesnotexist/api-keys"));
    b.wait_for("not found", WAIT, |_, html| html.contains("Page not found"));
}

/// Organization › Admin Team, driven by an owner: Add member (errors beside the fields, then
/// an invitation for specific companies), Resend, send to another address, Revoke (confirmed);
/// change a member's role and companies, remove a member (confirmed). An admin cannot offer
/// the owner role; a billing member sees the team read-only.
#[test]
fn admin_team_invitations_and_members() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let (org, a, bb) = (w.org.clone(), w.a.clone(), w.b.clone());
    let team = format!("/settings/orgs/{org}/admin-team");
    let b = Browser::start();

    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    b.click("ul[aria-labelledby=nav-organization] a[href$='/admin-team']");
    b.wait_for("the admin team", WAIT, |_, html| {
        html.contains("<h1>Admin Team</h1>")
    });
    let text = b.text();
    for who in [
        "owner@orgs.test",
        "admin@orgs.test",
        "billing@orgs.test",
        "member@orgs.test",
    ] {
        assert!(text.contains(who), "{who} not listed: {text}");
    }
    assert!(text.contains("No pending invitations."), "{text}");
    assert_eq!(
        b.texts("#f-role option"),
        ["Owner", "Admin", "Billing", "Member"],
        "an owner may give every role"
    );
    check_page(&b, "Admin Team", Some("settings-admin-team"));

    // Bad input: no address, and specific companies with none checked.
    b.click("input[name=access][value=list]");
    submit(
        &b,
        &format!("{team}/add"),
        "Please correct the fields marked below.",
    );
    assert!(!b.texts("#f-email-error")[0].is_empty());
    assert_eq!(
        b.texts("#f-companies-error"),
        ["Choose all companies or at least one company."]
    );
    check_page(&b, "Add member with errors", None);

    // Add member: an invitation for companies A and B, with the Admin role.
    let new = "new.person@orgs.test";
    b.type_into("#f-email", new);
    b.select("#f-role", "admin");
    b.click("input[name=access][value=list]");
    b.click(&format!("input[name=company][value='{a}']"));
    b.click(&format!("input[name=company][value='{bb}']"));
    submit(&b, &format!("{team}/add"), "Invitation sent.");
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains(new))
        .expect("invitation row");
    assert!(
        row.contains("Admin") && row.contains("Company A") && row.contains("Company B"),
        "{row}"
    );
    assert!(!row.contains("Company C"), "{row}");
    assert!(row.contains("Email "), "delivery status shown: {row}");
    assert_eq!(outbox_count(server.data_dir(), new, "invitation"), 1);
    // The same address again is refused in words.
    b.type_into("#f-email", new);
    submit(
        &b,
        &format!("{team}/add"),
        "A pending invitation for this address exists; resend it instead.",
    );

    // Resend, then send to another address.
    open(&b, &base, &team, "Admin Team");
    b.click("form[action$='/resend'].inline button");
    b.wait_for("resent", WAIT, |_, _| {
        b.text().contains("Invitation sent again")
    });
    assert_eq!(outbox_count(server.data_dir(), new, "invitation"), 2);
    let other = "other.address@orgs.test";
    b.click("td details summary");
    b.type_into("input[id^=readdress-]", "not-an-address");
    b.click("td details form button");
    b.wait_for("the address error", WAIT, |_, _| {
        b.text().contains("The new address")
    });
    check_page(&b, "Admin Team with an invitation error", None);
    b.click("td details summary");
    b.type_into("input[id^=readdress-]", other);
    b.click("td details form button");
    b.wait_for("readdressed", WAIT, |_, _| {
        b.text().contains("Invitation sent again")
    });
    let text = b.text();
    assert!(text.contains(other) && !text.contains(new), "{text}");
    assert_eq!(outbox_count(server.data_dir(), other, "invitation"), 1);

    // Revoke asks first.
    b.click("form[action$='/revoke'] button");
    b.accept_dialog();
    b.wait_for("revoked", WAIT, |_, _| {
        b.text().contains("Invitation revoked")
    });
    assert!(b.text().contains("No pending invitations."));

    // Change a member: Billing with all companies.
    let member_id = w.ids[&P::ME].clone();
    b.click(&format!("a[href$='/members/{member_id}']"));
    b.wait_for("the member page", WAIT, |_, html| {
        html.contains("<h1>Change member</h1>")
    });
    check_page(&b, "Change member", None);
    b.select("#f-role", "billing");
    b.click("input[name=access][value=all]");
    submit(
        &b,
        &format!("{team}/members/{member_id}"),
        "The member's role and company access are saved.",
    );
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("member@orgs.test"))
        .unwrap();
    assert!(
        row.contains("Billing") && row.contains("All companies"),
        "{row}"
    );
    let m = expect(
        &w.s(P::OW).get(&format!("/api/v1/orgs/{org}/members")),
        200,
        "members",
    );
    let api_row = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == member_id.as_str())
        .cloned();
    let api_row = api_row.unwrap_or_else(|| panic!("member missing: {m}"));
    assert_eq!(api_row["role"], "billing", "{api_row}");

    // Remove, confirmed.
    b.click(&format!("a[href$='/members/{member_id}']"));
    b.wait_for("the member page", WAIT, |_, html| {
        html.contains("<h1>Change member</h1>")
    });
    b.click("form[action$='/remove'] button");
    b.accept_dialog();
    b.wait_for("removed", WAIT, |_, _| {
        b.text().contains("The member is removed")
    });
    assert!(!b.text().contains("member@orgs.test"));

    // The audit log shows what was just done, by whom, newest first.
    open(
        &b,
        &base,
        &format!("/settings/orgs/{org}/audit-log"),
        "Audit Log",
    );
    let rows = b.texts("tbody tr");
    assert!(
        rows[0].contains("Member removed") && rows[0].contains("owner"),
        "{rows:?}"
    );
    assert!(
        rows.iter().any(|r| r.contains("Invitation revoked")),
        "{rows:?}"
    );
    check_page(&b, "Audit Log", None);
    b.goto(&format!(
        "{base}/settings/orgs/{org}/audit-log?before=not-a-cursor"
    ));
    b.wait_for("the bad page message", WAIT, |_, _| {
        b.text().contains("That page of the log does not exist")
    });
    sign_out(&b, &base);

    // An admin cannot offer the owner role.
    sign_in(&b, &base, &w.emails[&P::AD].clone(), PW);
    open(&b, &base, &team, "Admin Team");
    assert_eq!(b.texts("#f-role option"), ["Admin", "Billing", "Member"]);
    sign_out(&b, &base);

    // A billing member sees the team, read-only.
    sign_in(&b, &base, &w.emails[&P::BI].clone(), PW);
    open(&b, &base, &team, "Admin Team");
    assert!(!b.exists("#f-email") && !b.exists("form[action$='/revoke']"));
    assert!(b.text().contains("owner@orgs.test"));
    assert!(!b.exists("a[href*='/members/']"), "no change links");
    check_page(&b, "Admin Team (read-only)", None);
}

/// Organization › API Keys, driven by an owner: bad input beside its fields; create with
/// name, scopes and expiry, the key shown once with a copy button; the list with last use and
/// use count; Rotate with an overlap (the successor shown once, the old key with its end);
/// Revoke of a key just used asks "revoke anyway?". An admin manages keys too; a member is
/// told why the page is not theirs (see `hidden_sections_say_why_per_persona`).
#[test]
fn api_keys_create_rotate_revoke() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let org = w.org.clone();
    let keys = format!("/settings/orgs/{org}/api-keys");
    let b = Browser::start();

    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    b.click("ul[aria-labelledby=nav-organization] a[href$='/api-keys']");
    b.wait_for("API Keys", WAIT, |_, html| {
        html.contains("<h1>API Keys</h1>")
    });
    assert!(b.text().contains("No keys yet."), "{}", b.text());
    check_page(&b, "API Keys", Some("settings-api-keys"));

    // No name, no scope: both said beside their fields.
    submit(
        &b,
        &format!("{keys}/create"),
        "Please correct the fields marked below.",
    );
    assert_eq!(b.texts("#f-name-error"), ["Must not be empty."]);
    assert_eq!(b.texts("#f-scopes-error"), ["Give at least one scope."]);
    check_page(&b, "API Keys with errors", None);

    // Create: shown once, with a copy button and the warning.
    b.type_into("#f-name", "Billing sync");
    b.click("input[name=scope][value='org:read']");
    b.click("input[name=scope][value='members:read']");
    b.select("#f-expiry", "30d");
    submit(&b, &format!("{keys}/create"), "Copy this key now.");
    let key = b.texts("#new-key")[0].clone();
    assert!(key.starts_with("tnt_") && key.len() > 40, "{key}");
    assert!(b.exists("button[data-copy=new-key]"));
    assert!(b.text().contains("org:read, members:read"));
    check_page(&b, "New API key", Some("settings-api-key-once"));

    // The key works; the list shows its use, and never the key again.
    let r = server.client().request(
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &[("Authorization", &format!("Bearer {key}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    b.click("a.button");
    b.wait_for("the list", WAIT, |_, html| {
        html.contains("<h1>API Keys</h1>")
    });
    let text = b.text();
    assert!(!b.source().contains(&key), "the key is shown once only");
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("Billing sync"))
        .unwrap();
    assert!(row.contains("just now") || row.contains("minute"), "{row}");
    assert!(row.contains("Active"), "{row}");
    assert!(
        b.attr("tbody time", "title").is_some_and(|t| !t.is_empty()),
        "exact time on hover"
    );
    assert!(text.contains("Billing sync"));

    // Revoke a key used moments ago: the page asks again.
    b.click("tbody a[href*='/api-keys/key_']");
    b.wait_for("the key page", WAIT, |_, html| {
        html.contains("<h1>API key Billing sync</h1>")
    });
    check_page(&b, "API key", None);
    b.click("form[action$='/revoke'] button");
    b.accept_dialog();
    b.wait_for("the recent-use question", WAIT, |_, _| {
        b.text().contains("revoke anyway?")
    });
    assert!(
        b.text()
            .contains("This key was used just now — revoke anyway?")
            || b.text().contains("minute ago — revoke anyway?"),
        "{}",
        b.text()
    );
    check_page(&b, "Revoke anyway", None);
    b.click("form[action$='/revoke'] button");
    b.wait_for("revoked", WAIT, |_, _| {
        b.text().contains("The key is revoked.")
    });
    let r = server.client().request(
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &[("Authorization", &format!("Bearer {key}"))],
        None,
    );
    assert_eq!(r.status, 401, "a revoked key fails: {}", r.text());
    sign_out(&b, &base);

    // An admin rotates a new key with a day of overlap.
    sign_in(&b, &base, &w.emails[&P::AD].clone(), PW);
    open(&b, &base, &keys, "API Keys");
    b.type_into("#f-name", "Exporter");
    b.click("input[name=scope][value='companies:read']");
    submit(&b, &format!("{keys}/create"), "Copy this key now.");
    let first = b.texts("#new-key")[0].clone();
    b.click("a.button");
    b.wait_for("the list", WAIT, |_, html| {
        html.contains("<h1>API Keys</h1>")
    });
    let exporter = row_link(&b, "Exporter");
    open(&b, &base, &exporter, "API key Exporter");
    b.select("#f-overlap", "86400");
    submit(&b, &format!("{exporter}/rotate"), "Copy this key now.");
    let second = b.texts("#new-key")[0].clone();
    assert_ne!(first, second);
    assert!(
        b.text().contains("The old key keeps working until"),
        "{}",
        b.text()
    );
    for k in [&first, &second] {
        let r = server.client().request(
            "GET",
            &format!("/api/v1/orgs/{org}/companies"),
            &[("Authorization", &format!("Bearer {k}"))],
            None,
        );
        assert_eq!(
            r.status,
            200,
            "both keys work during the overlap: {}",
            r.text()
        );
    }
    let _ = &mut w;
}

/// Company settings, driven by a company-only admin: Sites (add with an error first, edit,
/// delete confirmed, time zone picker), Data Preferences (errors beside fields, then saved),
/// Members (through the organization / added directly; add, change, remove confirmed). A
/// company viewer sees sites and data preferences read-only.
#[test]
fn company_sites_preferences_and_members() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let a = w.a.clone();
    let newcomer = "newcomer@orgs.test";
    create_user(w.s(P::IA), newcomer, None, Some(PW));
    // Only an instance administrator adds an existing account directly (everyone else
    // invites); the newcomer is the direct member changed and removed below.
    let r = w.s(P::IA).post_json(
        &format!("/api/v1/companies/{a}/members"),
        &json!({"email": newcomer, "role": "viewer"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let sites = format!("/settings/companies/{a}/sites");
    let b = Browser::start();

    sign_in(&b, &base, &w.emails[&P::CA].clone(), PW);
    b.click("ul[aria-labelledby=nav-company] a[href$='/sites']");
    b.wait_for("Sites", WAIT, |_, html| html.contains("<h1>Sites</h1>"));
    assert!(b.text().contains("Site A"));
    check_page(&b, "Sites", Some("settings-sites"));

    // Add: a name is needed; then a site in Paris.
    b.select("#f-timezone", "Europe/Paris");
    submit(&b, &format!("{sites}/add"), "Must not be empty.");
    assert_eq!(b.attr("#f-name", "aria-invalid").as_deref(), Some("true"));
    assert_eq!(
        b.execute(
            "return document.querySelector('#f-timezone').value;",
            json!([])
        ),
        json!("Europe/Paris"),
        "the chosen zone is kept"
    );
    check_page(&b, "Sites with an error", None);
    b.type_into("#f-name", "Harbour depot");
    b.type_into("#f-address", "1 Quay Street");
    submit(&b, &format!("{sites}/add"), "The site is added.");
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("Harbour depot"))
        .unwrap();
    assert!(
        row.contains("Europe/Paris") && row.contains("1 Quay Street"),
        "{row}"
    );

    // Edit, then delete (confirmed).
    let site_path = row_link(&b, "Harbour depot");
    b.click(&format!("a[href='{site_path}']"));
    b.wait_for("the site page", WAIT, |_, html| {
        html.contains("<h1>Site Harbour depot</h1>")
    });
    check_page(&b, "Site", None);
    b.clear("#f-name");
    b.type_into("#f-name", "Harbour depot East");
    submit(&b, &site_path, "The site is saved.");
    assert!(b.text().contains("Harbour depot East"));
    open(&b, &base, &site_path, "Site Harbour depot East");
    b.click(&format!("form[action='{site_path}/delete'] button"));
    b.accept_dialog();
    b.wait_for("deleted", WAIT, |_, _| {
        b.text().contains("The site is deleted.")
    });
    assert!(!b.text().contains("Harbour depot"));

    // Data Preferences: bad values beside their fields, then saved.
    let prefs = format!("/settings/companies/{a}/data-preferences");
    open(&b, &base, &prefs, "Data Preferences");
    b.clear("#f-currency");
    b.type_into("#f-currency", "EURO");
    b.clear("#f-retention_days");
    b.type_into("#f-retention_days", "ninety");
    submit(&b, &prefs, "Please correct the fields marked below.");
    assert_eq!(
        b.texts("#f-retention_days-error"),
        ["Must be a whole number of days from 1 to 3650."]
    );
    b.clear("#f-retention_days");
    b.type_into("#f-retention_days", "90");
    submit(&b, &prefs, "Must be an ISO 4217 code such as EUR or USD.");
    assert_eq!(
        b.attr("#f-currency", "value").as_deref(),
        Some("EURO"),
        "value kept"
    );
    check_page(&b, "Data Preferences with an error", None);
    b.clear("#f-currency");
    b.type_into("#f-currency", "usd");
    b.select("#f-units", "imperial");
    b.select("#f-date_format", "MM/DD/YYYY");
    submit(&b, &prefs, "The data preferences are saved.");
    assert_eq!(b.attr("#f-currency", "value").as_deref(), Some("USD"));
    let p = expect(
        &w.s(P::OW)
            .get(&format!("/api/v1/companies/{a}/data-preferences")),
        200,
        "prefs",
    );
    assert_eq!(p["units"], "imperial", "{p}");
    assert_eq!(p["retention_days"], 90, "{p}");
    check_page(&b, "Data Preferences", None);

    // Members: how each reaches the company; add, change and remove a direct member.
    let members = format!("/settings/companies/{a}/members");
    open(&b, &base, &members, "Members");
    let owner_row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("owner@orgs.test"))
        .unwrap();
    assert!(
        owner_row.contains("Through the organization"),
        "{owner_row}"
    );
    let viewer_row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("cviewer@orgs.test"))
        .unwrap();
    assert!(
        viewer_row.contains("Added directly") && viewer_row.contains("Viewer"),
        "{viewer_row}"
    );
    // Adding someone who is a member already is refused with the reason beside the form.
    b.type_into("#f-email", &w.emails[&P::CV].clone());
    submit(&b, &format!("{members}/add"), "already a member");
    check_page(
        &b,
        "Members with an error",
        Some("settings-company-members"),
    );
    // Adding by email invites (whether or not the address has an account: the page does
    // not say which).
    b.clear("#f-email");
    b.type_into("#f-email", "nobody@orgs.test");
    b.select("#f-role", "viewer");
    submit(
        &b,
        &format!("{members}/add"),
        "An invitation is on its way. They join the company when they accept it.",
    );
    assert!(!b.text().contains("nobody@orgs.test"));
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains(newcomer))
        .unwrap();
    assert!(
        row.contains("Viewer") && row.contains("Added directly"),
        "{row}"
    );
    let select = b
        .execute(
            "var rows = Array.from(document.querySelectorAll('tbody tr')).filter(function (r) { return r.textContent.indexOf('newcomer@orgs.test') >= 0; }); return rows[0].querySelector('select').id;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    b.select(&format!("#{select}"), "member");
    let user = select.trim_start_matches("role-").to_string();
    submit(
        &b,
        &format!("{members}/{user}/role"),
        "The member's role is saved.",
    );
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains(newcomer))
        .unwrap();
    assert!(row.contains("Member"), "{row}");
    b.click(&format!("form[action='{members}/{user}/remove'] button"));
    b.accept_dialog();
    b.wait_for("removed", WAIT, |_, _| {
        b.text().contains("The member is removed from the company.")
    });
    assert!(!b.text().contains(newcomer));
    sign_out(&b, &base);

    // A company viewer: read-only sites and data preferences; a long list pages.
    for i in 0..55 {
        crate::orgs_matrix::create_site(w.s(P::OW), &a, &format!("Depot {i:02}"));
    }
    sign_in(&b, &base, &w.emails[&P::CV].clone(), PW);
    open(&b, &base, &sites, "Sites");
    assert!(!b.exists("form[action$='/sites/add']") && !b.exists("tbody a"));
    let first = b.texts("tbody tr");
    assert_eq!(first.len(), 50, "50 sites a page");
    b.click("main a[href*='?after=']");
    b.wait_for("the next page", WAIT, |url, _| url.contains("?after="));
    let second = b.texts("tbody tr");
    assert_eq!(first.len() + second.len(), 56, "Site A and 55 depots");
    assert!(
        second.iter().all(|r| !first.contains(r)),
        "pages do not overlap"
    );
    assert!(!b.exists("main a[href*='?after=']"), "the last page");
    open(&b, &base, &sites, "Sites");
    check_page(&b, "Sites (viewer)", None);
    open(&b, &base, &prefs, "Data Preferences");
    assert!(b.text().contains("Only a company admin can change these."));
    assert!(b.text().contains("USD"));
    check_page(&b, "Data Preferences (viewer)", None);
}

/// Organization › Data Repository: an owner changes it (errors beside fields; credentials set,
/// then cleared) and the credentials never come back in a page; an admin reads it only.
#[test]
fn data_repository_credentials_are_write_only() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let org = w.org.clone();
    let path = format!("/settings/orgs/{org}/data-repository");
    let b = Browser::start();

    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    b.click("ul[aria-labelledby=nav-organization] a[href$='/data-repository']");
    b.wait_for("Data Repository", WAIT, |_, html| {
        html.contains("<h1>Data Repository</h1>")
    });
    assert!(b.text().contains("not set"));
    check_page(&b, "Data Repository", Some("settings-data-repository"));

    b.select("#f-kind", "s3");
    b.clear("#f-retention_days");
    b.type_into("#f-retention_days", "a month");
    b.click("input[name=credentials_action][value=replace]");
    b.type_into(
        "#f-credentials",
        "access_key_id = AKIAFIRST\nsecret = first-s3cret",
    );
    submit(&b, &path, "Please correct the fields marked below.");
    assert_eq!(
        b.texts("#f-retention_days-error"),
        ["Must be a whole number of days from 1 to 3650."]
    );
    assert!(
        !b.source().contains("first-s3cret"),
        "typed credentials are not echoed"
    );
    b.clear("#f-retention_days");
    b.type_into("#f-retention_days", "30");
    submit(&b, &path, "Is required for this kind.");
    check_page(&b, "Data Repository with errors", None);
    b.type_into("#f-location", "s3://org-one-bucket");
    b.type_into("#f-region", "eu-west-1");
    b.click("input[name=credentials_action][value=replace]");
    b.type_into(
        "#f-credentials",
        "access_key_id = AKIAFIRST\nsecret = first-s3cret",
    );
    submit(&b, &path, "The data repository setting is saved.");
    let html = b.source();
    assert!(
        !html.contains("first-s3cret") && !html.contains("AKIAFIRST"),
        "write-only"
    );
    assert!(
        b.text().contains("Keep the stored credentials"),
        "{}",
        b.text()
    );
    let r = expect(
        &w.s(P::OW)
            .get(&format!("/api/v1/orgs/{org}/data-repository")),
        200,
        "repo",
    );
    assert_eq!(r["credentials_set"], true, "{r}");
    assert_eq!(r["location"], "s3://org-one-bucket", "{r}");

    // Clear them.
    b.click("input[name=credentials_action][value=clear]");
    submit(&b, &path, "The data repository setting is saved.");
    let r = expect(
        &w.s(P::OW)
            .get(&format!("/api/v1/orgs/{org}/data-repository")),
        200,
        "repo",
    );
    assert_eq!(r["credentials_set"], false, "{r}");
    sign_out(&b, &base);

    // An admin reads it, without a form.
    sign_in(&b, &base, &w.emails[&P::AD].clone(), PW);
    open(&b, &base, &path, "Data Repository");
    assert!(!b.exists("form[action$='/data-repository']"));
    let text = b.text();
    assert!(
        text.contains("s3://org-one-bucket")
            && text.contains("Only an owner of Org One can change this."),
        "{text}"
    );
    check_page(&b, "Data Repository (read-only)", None);
}

/// Organization › Billing: invoices with money written in their currency (never minor units),
/// the profile form for the owner (an error beside its field, then saved), and a billing
/// member setting up a first profile.
#[test]
fn billing_profile_and_invoices() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let (org, org2) = (w.org.clone(), w.org2.clone());
    let b = Browser::start();

    sign_in(&b, &base, &w.emails[&P::OT].clone(), PW);
    b.click("ul[aria-labelledby=nav-organization] a[href$='/billing']");
    b.wait_for("Billing", WAIT, |_, html| html.contains("<h1>Billing</h1>"));
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("O2-1"))
        .unwrap();
    assert!(row.contains("€12.00") && row.contains("Paid"), "{row}");
    assert!(
        !b.text().contains("minor units") && !b.text().contains("1200"),
        "{}",
        b.text()
    );
    assert_eq!(
        b.attr("#f-legal_name", "value").as_deref(),
        Some("Org Two Ltd")
    );
    check_page(&b, "Billing", Some("settings-billing"));
    let path = format!("/settings/orgs/{org2}/billing/profile");
    b.clear("#f-plan");
    submit(&b, &path, "Must be 1 to 64 characters.");
    check_page(&b, "Billing with an error", None);
    b.type_into("#f-plan", "enterprise");
    submit(&b, &path, "The billing profile is saved.");
    let v = expect(
        &w.s(P::OT).get(&format!("/api/v1/orgs/{org2}/billing")),
        200,
        "billing",
    );
    assert_eq!(v["profile"]["plan"], "enterprise", "{v}");
    sign_out(&b, &base);

    // A billing member of an organization without a profile sets the first one up.
    sign_in(&b, &base, &w.emails[&P::BI].clone(), PW);
    open(
        &b,
        &base,
        &format!("/settings/orgs/{org}/billing"),
        "Billing",
    );
    assert!(
        b.text().contains("No billing profile has been set up"),
        "{}",
        b.text()
    );
    assert!(b.text().contains("No invoices yet."));
    b.type_into("#f-legal_name", "Org One SA");
    b.type_into("#f-billing_email", "accounts@orgs.test");
    b.type_into("#f-address", "1 Main Street");
    b.type_into("#f-plan", "team");
    submit(
        &b,
        &format!("/settings/orgs/{org}/billing/profile"),
        "The billing profile is saved.",
    );
    assert_eq!(
        b.attr("#f-legal_name", "value").as_deref(),
        Some("Org One SA")
    );
    check_page(&b, "Billing (first profile)", None);
}

/// Every settings form refuses a post without the session's form token (a cross-site form
/// cannot act for the person), and changes nothing; signed out, a post goes to sign-in; a
/// settings page of another organization is "not found"; the hashed assets are cacheable and
/// an unknown asset name is not.
#[test]
fn settings_forms_need_the_form_token() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let (org, a, org2) = (w.org.clone(), w.a.clone(), w.org2.clone());
    let me = w.ids[&P::ME].clone();
    let posts = [
        "/settings/personal/general/name".to_string(),
        "/settings/personal/general/password-reset".into(),
        "/settings/personal/preferences".into(),
        "/settings/personal/security/sign-out-others".into(),
        "/settings/personal/security/two-step/start".into(),
        "/settings/personal/security/two-step/confirm".into(),
        "/settings/personal/security/two-step/recovery-codes".into(),
        "/settings/personal/security/two-step/disable".into(),
        "/settings/personal/security/passkeys/pk_0123456789abcdefghjkmnpqrs/remove".into(),
        format!("/settings/orgs/{org}/admin-team/members/{me}/two-step/reset"),
        format!("/settings/orgs/{org}/admin-team/add"),
        format!("/settings/orgs/{org}/admin-team/members/{me}"),
        format!("/settings/orgs/{org}/admin-team/members/{me}/remove"),
        format!("/settings/orgs/{org}/api-keys/create"),
        format!("/settings/orgs/{org}/billing/profile"),
        format!("/settings/orgs/{org}/data-repository"),
        format!("/settings/companies/{a}/sites/add"),
        format!("/settings/companies/{a}/data-preferences"),
        format!("/settings/companies/{a}/members/add"),
    ];
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for path in &posts {
        for body in [
            "name=Mallory&role=owner&access=all&email=m%40evil.test",
            "csrf_token=forged&name=Mallory",
        ] {
            let r = w
                .s(P::OW)
                .request("POST", path, &form, Some(body.as_bytes()));
            assert_eq!(r.status, 403, "{path}: {}", r.text());
            assert!(r.text().contains("Form expired"), "{path}: {}", r.text());
        }
        let r = server
            .session()
            .request("POST", path, &form, Some(b"name=x"));
        assert_eq!(r.status, 303, "{path} signed out");
        assert!(
            r.header("location").unwrap().starts_with("/login"),
            "{path}"
        );
    }
    let me_now = expect(&w.s(P::OW).get("/api/v1/me"), 200, "me");
    assert_ne!(me_now["name"], "Mallory", "nothing changed");
    let m = expect(
        &w.s(P::OW).get(&format!("/api/v1/orgs/{org}/members")),
        200,
        "members",
    );
    assert_eq!(
        m["data"].as_array().unwrap().len(),
        4,
        "nobody added or removed: {m}"
    );

    // Another tenant's organization does not exist for this person.
    let r = w.s(P::OW).get(&format!("/settings/orgs/{org2}/admin-team"));
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("Page not found"));
    let r = w.s(P::OW).get("/settings/orgs/org_nope/nonsense");
    assert_eq!(r.status, 404);

    // Pages: CSP with no inline script, no caching; assets: long-cached, unknown ones 404.
    let r = w.s(P::OW).get("/settings/personal/general");
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!r.text().contains("<script>"), "no inline script");
    assert_eq!(
        server.client().get("/assets/settings-deadbeef.js").status,
        404
    );
    assert_eq!(server.client().get("/assets/../Cargo.toml").status, 404);
}

/// An unconfirmed address blocks accepting an invitation; the invitation page then offers a
/// new confirmation email, which is sent.
#[test]
fn an_unconfirmed_address_gets_a_new_confirmation_email_from_the_invitation() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let org = w.org.clone();
    let invited = "unconfirmed@orgs.test";
    create_user(w.s(P::IA), invited, None, Some(PW));
    expect(
        &w.s(P::OW).post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": invited, "role": "member", "company_access": "all"}),
        ),
        201,
        "invite",
    );
    // The link, as the development outbox shows it to an instance administrator.
    let outbox = w.s(P::IA).get("/dev/outbox").text();
    let at = outbox
        .find("/invite/")
        .expect("an invitation link in the outbox");
    let token: String = outbox[at + "/invite/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let b = Browser::start();
    sign_in(&b, &base, invited, PW);
    b.goto(&format!("{base}/invite/{token}"));
    b.wait_for("the invitation", WAIT, |_, html| {
        html.contains("<h1>Join Org One</h1>")
    });
    b.click(&format!("form[action='/invite/{token}/accept'] button"));
    b.wait_for("the unconfirmed message", WAIT, |_, _| {
        b.text().contains("Confirm your email address first")
    });
    let before = outbox_count(server.data_dir(), invited, "email_verification");
    b.click("form[action='/settings/personal/general/verify-email'] button");
    b.wait_for("the confirmation notice", WAIT, |_, _| {
        b.text()
            .contains("We sent you an email with a link to confirm your address.")
    });
    assert_eq!(
        outbox_count(server.data_dir(), invited, "email_verification"),
        before + 1
    );
}

// ------------------------------------------------------------------------------------------
// Organization › Single Sign-On and the Instance scope
// ------------------------------------------------------------------------------------------

/// A server with the `sso-oidc` plugin (named `oidc`) and the `fixture` plugin, DNS checks
/// going to `127.0.0.1:dns_port`.
fn sso_server(dns_port: u16) -> (TestServer, crate::support::fake_oidc::FakeOidc) {
    use crate::support::plugins::{write_config, PluginEntry};
    let idp = crate::support::fake_oidc::FakeOidc::start("tenantry-test");
    let dir = crate::support::server::unique_temp_dir("tenantry-pages-sso-cfg");
    let config = write_config(
        &dir,
        &[&format!("sso.dns_resolver = \"127.0.0.1:{dns_port}\"")],
        &[
            PluginEntry::new("oidc", "sso-oidc")
                .allow(&idp.host_port())
                .setting("issuer", &idp.issuer())
                .setting("client_id", "tenantry-test"),
            PluginEntry::new("fixture", "fixture"),
        ],
    );
    let server = TestServer::builder()
        .arg("--config")
        .arg(config.display().to_string())
        .start();
    (server, idp)
}

fn sso_domain(w: &mut World, org: &str, domain: &str) -> Value {
    let v = expect(
        &w.s(P::OW).get(&format!("/api/v1/orgs/{org}/sso")),
        200,
        "sso",
    );
    v["domain_verification"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap_or_else(|| panic!("{domain} in {v}"))
        .clone()
}

/// Organization › Single Sign-On per persona: a member is told single sign-on is switched
/// off; the owner is told no provider is allowed yet, then sets it up (a free-mail domain
/// refused beside its field), sees each pending domain's TXT record, and Verify checks it
/// against a real DNS server (wrong value: the clear failure; right value: verified); an
/// admin may change it, a member only reads it; an instance administrator approves a domain;
/// the owner removes it after confirming.
#[test]
fn single_sign_on_per_persona() {
    let dns_port = free_dns_port();
    let (server, _idp) = sso_server(dns_port);
    let mut w = World::build(&server);
    let base = server.base_url();
    let org = w.org.clone();
    let path = format!("/settings/orgs/{org}/sso");
    let b = Browser::start();

    // Member, feature off: absent from the navigation, and the URL says why.
    sign_in(&b, &base, &w.emails[&P::ME].clone(), PW);
    assert!(!nav(&b, "organization").contains(&"Single Sign-On".to_string()));
    b.goto(&format!("{base}{path}"));
    b.wait_for("the reason", WAIT, |_, html| {
        html.contains("<h1>Single sign-on is switched off</h1>")
    });
    let text = b.text();
    assert!(
        text.contains("Single sign-on is switched off for Org One — an instance administrator can turn it on."),
        "{text}"
    );
    check_page(
        &b,
        "Single Sign-On (switched off)",
        Some("settings-sso-off"),
    );
    sign_out(&b, &base);

    expect(
        &w.s(P::IA).put_json(
            &format!("/api/v1/orgs/{org}/features"),
            &json!({"sso": true}),
        ),
        200,
        "sso on",
    );

    // Owner: the section is in the navigation; no provider allowed yet.
    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    let (org_labels, _) = labels_from_api(&mut w, P::OW);
    assert!(org_labels.contains(&"Single Sign-On".to_string()));
    assert_eq!(nav(&b, "organization"), org_labels);
    b.click("ul[aria-labelledby=nav-organization] a[href$='/sso']");
    b.wait_for("Single Sign-On", WAIT, |_, html| {
        html.contains("<h1>Single Sign-On</h1>")
    });
    let text = b.text();
    assert!(
        text.contains("Org One may not use any single sign-on provider yet")
            && text.contains("ask one to allow a provider for Org One"),
        "{text}"
    );
    assert!(!b.exists(&format!("form[action='{path}']")));
    check_page(&b, "Single Sign-On (no provider)", None);

    crate::support::plugins::allow_plugins(w.s(P::IA), &org, &["oidc"]);
    open(&b, &base, &path, "Single Sign-On");
    assert!(b
        .text()
        .contains("Single sign-on is not set up for Org One yet."));
    // Only plugins that implement sso and are allowed are offered.
    assert_eq!(b.texts("#f-plugin option"), ["oidc"]);
    b.type_into("#f-domains", "gmail.com\nexample.test");
    b.select("#f-join_role", "member");
    submit(&b, &path, "Please correct the fields marked below.");
    let err = b.texts("#f-domains-error").join(" ");
    assert!(
        err.contains("gmail.com") && err.contains("free email provider"),
        "{err}"
    );
    assert_eq!(
        b.attr("#f-domains", "aria-invalid").as_deref(),
        Some("true")
    );
    check_page(&b, "Single Sign-On with errors", None);
    b.clear("#f-domains");
    b.type_into("#f-domains", "example.test\nother.test");
    submit(&b, &path, "The single sign-on settings are saved.");
    let text = b.text();
    assert!(text.contains("oidc") && text.contains("Member"), "{text}");
    assert_eq!(b.texts("section.record .badge"), ["pending", "pending"]);
    let ex = sso_domain(&mut w, &org, "example.test");
    let other = sso_domain(&mut w, &org, "other.test");
    let txt_value = ex["txt_value"].as_str().unwrap().to_string();
    assert!(text.contains(ex["txt_name"].as_str().unwrap()), "{text}");
    assert!(text.contains(&txt_value), "{text}");
    assert!(b.exists("button[data-copy]"), "copy buttons");
    assert!(
        !b.exists("form[action$='/approve']"),
        "Approve is for instance administrators"
    );
    check_page(&b, "Single Sign-On", Some("settings-sso"));

    // Verify against a real DNS server: a record with another token is refused clearly.
    {
        let _dns = Dnsmasq::start(
            dns_port,
            &[(
                other["txt_name"].as_str().unwrap(),
                "tenantry-verify=not-this-one",
            )],
        );
        b.click(&format!(
            "form[action='{path}/domains/other.test/verify'] button[type=submit]"
        ));
        b.wait_for("the failure", WAIT, |_, html| {
            html.contains("role=\"alert\"")
        });
        let text = b.text();
        assert!(
            text.contains("does not carry this organization's token")
                && text.contains(other["txt_value"].as_str().unwrap()),
            "{text}"
        );
        check_page(&b, "Single Sign-On verify failed", None);
    }
    {
        let _dns = Dnsmasq::start(
            dns_port,
            &[(ex["txt_name"].as_str().unwrap(), txt_value.as_str())],
        );
        open(&b, &base, &path, "Single Sign-On");
        b.click(&format!(
            "form[action='{path}/domains/example.test/verify'] button[type=submit]"
        ));
        b.wait_for("verified", WAIT, |_, _| {
            b.text().contains("The domain is verified.")
        });
    }
    assert!(b.text().contains("by its DNS record"), "{}", b.text());
    let ex = sso_domain(&mut w, &org, "example.test");
    assert_eq!(ex["status"], "verified", "{ex}");
    assert_eq!(ex["verified_by"], "dns", "{ex}");
    assert_eq!(sso_domain(&mut w, &org, "other.test")["status"], "pending");
    sign_out(&b, &base);

    // Admin: may change it and verify, but not approve.
    sign_in(&b, &base, &w.emails[&P::AD].clone(), PW);
    open(&b, &base, &path, "Single Sign-On");
    assert!(b.exists(&format!("form[action='{path}']")));
    assert!(b.exists("form[action$='/other.test/verify']"));
    assert!(!b.exists("form[action$='/approve']"));
    // A hand-made Approve is refused in words, and the domain stays pending.
    post_from_page(&b, &format!("{path}/domains/other.test/approve"), &[]);
    b.wait_for("the refusal", WAIT, |_, _| {
        b.text().contains("This needs an instance administrator.")
    });
    assert_eq!(sso_domain(&mut w, &org, "other.test")["status"], "pending");
    sign_out(&b, &base);

    // Member, feature on: reads it, changes nothing.
    sign_in(&b, &base, &w.emails[&P::ME].clone(), PW);
    assert!(nav(&b, "organization").contains(&"Single Sign-On".to_string()));
    open(&b, &base, &path, "Single Sign-On");
    assert!(!b.exists("main form"), "no forms for a member");
    assert!(b
        .text()
        .contains("Only an owner or admin of Org One can change this."));
    check_page(&b, "Single Sign-On (read-only)", None);
    sign_out(&b, &base);

    // Instance administrator: approves the other domain.
    sign_in(
        &b,
        &base,
        crate::support::server::ADMIN_EMAIL,
        crate::support::server::ADMIN_PASSWORD,
    );
    open(&b, &base, &path, "Single Sign-On");
    b.click("form[action$='/other.test/approve'] button[type=submit]");
    b.accept_dialog();
    b.wait_for("approved", WAIT, |_, _| {
        b.text().contains("The domain is approved.")
    });
    assert!(b.text().contains("by an instance administrator"));
    check_page(
        &b,
        "Single Sign-On (instance administrator)",
        Some("settings-sso-approved"),
    );
    let o = sso_domain(&mut w, &org, "other.test");
    assert_eq!(o["status"], "verified", "{o}");
    assert_eq!(o["verified_by"], "instance_admin", "{o}");
    sign_out(&b, &base);

    // Owner removes it, after confirming.
    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    open(&b, &base, &path, "Single Sign-On");
    b.click(&format!("form[action='{path}/remove'] button"));
    b.accept_dialog();
    b.wait_for("removed", WAIT, |_, _| {
        b.text().contains("Single sign-on is removed.")
    });
    let v = expect(
        &w.s(P::OW).get(&format!("/api/v1/orgs/{org}/sso")),
        200,
        "sso",
    );
    assert_eq!(v["configured"], false, "{v}");
}

/// Instance › Organizations and Users, for instance administrators only: the Instance group
/// in the navigation; organizations listed, one created (a bad short name refused beside its
/// field), its features and allowed plugins switched with checkboxes; users listed a page at a
/// time, one created (a short password refused beside its field), one disabled after
/// confirming (they cannot sign in) and enabled again. A member is told these pages are for
/// instance administrators.
#[test]
fn instance_organizations_and_users() {
    let (server, _idp) = sso_server(free_dns_port());
    let mut w = World::build(&server);
    let base = server.base_url();
    for i in 0..20 {
        create_user(
            w.s(P::IA),
            &format!("filler{i:02}@orgs.test"),
            None,
            Some(PW),
        );
    }
    let b = Browser::start();

    // A member: no Instance group, and the pages say why.
    sign_in(&b, &base, &w.emails[&P::ME].clone(), PW);
    assert!(!b.exists("ul[aria-labelledby=nav-instance]"));
    for path in [
        "/settings/instance/organizations",
        "/settings/instance/users",
    ] {
        open(
            &b,
            &base,
            path,
            "Instance settings are for instance administrators",
        );
    }
    assert!(!b.source().contains("member@orgs.test</td>"));
    check_page(&b, "Instance (refused)", None);
    // A hand-made post with the member's own form token changes nothing.
    let org = w.org.clone();
    open(&b, &base, "/settings/personal/membership", "Membership");
    post_from_page(
        &b,
        &format!("/settings/instance/organizations/{org}/features"),
        &[
            ("feature", "sso"),
            ("feature", "api_keys"),
            ("feature", "billing"),
        ],
    );
    b.wait_for("the refusal", WAIT, |_, html| {
        html.contains("<h1>Instance settings are for instance administrators</h1>")
    });
    let f = expect(
        &w.s(P::IA).get(&format!("/api/v1/orgs/{org}/features")),
        200,
        "features",
    );
    assert_eq!(f["sso"], false, "{f}");
    open(&b, &base, "/settings/personal/membership", "Membership");
    post_from_page(
        &b,
        &format!("/settings/instance/users/{}/disable", w.ids[&P::OW]),
        &[],
    );
    b.wait_for("the refusal", WAIT, |_, html| {
        html.contains("<h1>Instance settings are for instance administrators</h1>")
    });
    let users = expect(&w.s(P::IA).get("/api/v1/users?limit=100"), 200, "users");
    assert!(
        users["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["disabled"] == false),
        "{users}"
    );
    sign_out(&b, &base);

    sign_in(
        &b,
        &base,
        crate::support::server::ADMIN_EMAIL,
        crate::support::server::ADMIN_PASSWORD,
    );
    assert_eq!(
        nav(&b, "instance"),
        ["Organizations", "Users", "Email Delivery"]
    );
    b.click("ul[aria-labelledby=nav-instance] a[href='/settings/instance/organizations']");
    b.wait_for("Organizations", WAIT, |_, html| {
        html.contains("<h1>Organizations</h1>")
    });
    let text = b.text();
    assert!(
        text.contains("Org One") && text.contains("Org Two"),
        "{text}"
    );
    check_page(&b, "Organizations", Some("settings-instance-organizations"));

    let orgs = "/settings/instance/organizations";
    b.type_into("#f-name", "Org Three");
    b.type_into("#f-slug", "Org Three!");
    submit(&b, orgs, "Please correct the fields marked below.");
    assert_eq!(
        b.texts("#f-slug-error").len(),
        1,
        "error beside the short name"
    );
    assert_eq!(b.attr("#f-name", "value").as_deref(), Some("Org Three"));
    check_page(&b, "Organizations with errors", None);
    b.clear("#f-slug");
    b.type_into("#f-slug", "org-three");
    submit(&b, orgs, "The organization is created.");
    assert!(b.source().contains("<h1>Org Three</h1>"));
    let org3 = b
        .url()
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let features = expect(
        &w.s(P::IA).get(&format!("/api/v1/orgs/{org3}/features")),
        200,
        "features",
    );
    assert_eq!(features["sso"], false, "{features}");
    let api_keys_before = features["api_keys"].as_bool().unwrap();
    check_page(
        &b,
        "Organization (instance)",
        Some("settings-instance-organization"),
    );

    // Features and plugins as checkboxes.
    let here = format!("{orgs}/{org3}");
    b.click("input[name=feature][value=sso]");
    b.click("input[name=feature][value=api_keys]");
    submit(&b, &format!("{here}/features"), "The features are saved.");
    let features = expect(
        &w.s(P::IA).get(&format!("/api/v1/orgs/{org3}/features")),
        200,
        "features",
    );
    assert_eq!(features["sso"], true, "{features}");
    assert_eq!(features["api_keys"], !api_keys_before, "{features}");
    assert_eq!(
        b.execute(
            "return document.querySelector('input[name=feature][value=sso]').checked;",
            json!([])
        ),
        json!(true),
        "the page shows the saved switch"
    );
    let plugins_text = b.text();
    assert!(
        plugins_text.contains("Provides single sign-on."),
        "{plugins_text}"
    );
    b.click("input[name=plugin][value=oidc]");
    submit(
        &b,
        &format!("{here}/plugins"),
        "The allowed plugins are saved.",
    );
    let p = expect(
        &w.s(P::IA).get(&format!("/api/v1/orgs/{org3}/plugins")),
        200,
        "plugins",
    );
    assert_eq!(p["allowed"][0]["name"], "oidc", "{p}");
    assert_eq!(p["allowed"].as_array().unwrap().len(), 1, "{p}");

    // Users, a page at a time.
    let users = "/settings/instance/users";
    b.click("ul[aria-labelledby=nav-instance] a[href='/settings/instance/users']");
    b.wait_for("Users", WAIT, |_, html| html.contains("<h1>Users</h1>"));
    let first_rows = b.texts("tbody tr").len();
    assert_eq!(first_rows, 25, "a page holds 25 users");
    check_page(&b, "Users", Some("settings-instance-users"));
    b.click("a[href^='/settings/instance/users?after=']");
    b.wait_for("the next page", WAIT, |url, _| url.contains("after="));
    // The instance administrator, 7 people of the world and 20 fillers: 28 in all.
    assert_eq!(b.texts("tbody tr").len(), 28 - 25);
    assert!(b.exists("a[href='/settings/instance/users']"), "a way back");

    b.type_into("#f-name", "New Person");
    b.type_into("#f-email", "new.person@orgs.test");
    b.type_into("#f-password", "short");
    submit(&b, users, "Please correct the fields marked below.");
    assert_eq!(
        b.texts("#f-password-error").len(),
        1,
        "error beside the password"
    );
    assert_eq!(
        b.attr("#f-email", "value").as_deref(),
        Some("new.person@orgs.test")
    );
    assert!(
        !b.source().contains("value=\"short\""),
        "passwords are not kept"
    );
    b.type_into("#f-password", "a long enough password");
    submit(&b, users, "The user is created.");
    let login = |email: &str, password: &str| {
        server
            .client()
            .post_json(
                "/api/v1/auth/login",
                &json!({"email": email, "password": password}),
            )
            .status
    };
    let r = login("new.person@orgs.test", "a long enough password");
    assert_eq!(r, 200, "the new user signs in");

    // Disable a member after confirming; they can no longer sign in; enable again.
    let me_id = w.ids[&P::ME].clone();
    let row_on_page = |b: &Browser| {
        b.exists(&format!("form[action='{users}/{me_id}/disable']"))
            || b.exists(&format!("form[action='{users}/{me_id}/enable']"))
    };
    open(&b, &base, users, "Users");
    if !row_on_page(&b) {
        b.click("a[href^='/settings/instance/users?after=']");
        b.wait_for("the next page", WAIT, |url, _| url.contains("after="));
    }
    b.click(&format!("form[action='{users}/{me_id}/disable'] button"));
    b.accept_dialog();
    b.wait_for("disabled", WAIT, |_, _| {
        b.text()
            .contains("The user is disabled and signed out everywhere.")
    });
    assert_ne!(login(&w.emails[&P::ME].clone(), PW), 200);
    open(&b, &base, users, "Users");
    if !row_on_page(&b) {
        b.click("a[href^='/settings/instance/users?after=']");
        b.wait_for("the next page", WAIT, |url, _| url.contains("after="));
    }
    b.click(&format!("form[action='{users}/{me_id}/enable'] button"));
    b.wait_for("enabled", WAIT, |_, _| {
        b.text().contains("The user is enabled again.")
    });
    assert_eq!(login(&w.emails[&P::ME].clone(), PW), 200);
}

/// Submits a form built in the page (the page's own form token included) to `action`.
fn post_from_page(b: &Browser, action: &str, fields: &[(&str, &str)]) {
    let pairs: Vec<Value> = fields.iter().map(|(k, v)| json!([k, v])).collect();
    b.execute(
        "var f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];\
         var add = function (k, v) { var i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); };\
         add('csrf_token', document.querySelector('input[name=csrf_token]').value);\
         arguments[1].forEach(function (p) { add(p[0], p[1]); });\
         document.body.appendChild(f); f.submit(); return true;",
        json!([action, pairs]),
    );
}

/// Organization › Audit Log filters, as the owner: by who, by what and by days in the
/// person's time zone (far east of UTC, so the day differs from the UTC day for most of the
/// day); the paging links keep the filters; a bad day is explained beside its field.
#[test]
fn audit_log_filters_keep_their_paging() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let (org, a) = (w.org.clone(), w.a.clone());
    let ad = w.ids[&P::AD].clone();
    // Setup: 51 sites created by the admin (one more than a page), one by the owner.
    for i in 0..51 {
        crate::orgs_matrix::create_site(w.s(P::AD), &a, &format!("Paged site {i}"));
    }
    crate::orgs_matrix::create_site(w.s(P::OW), &a, "Owner's site");
    let tz = "Pacific/Kiritimati";
    expect(
        &w.s(P::OW).put_json(
            "/api/v1/me/preferences",
            &json!({"locale": "en", "timezone": tz, "theme": "system"}),
        ),
        200,
        "time zone",
    );
    let ad_name = expect(&w.s(P::AD).get("/api/v1/me"), 200, "admin's name")["name"]
        .as_str()
        .unwrap()
        .to_string();
    let zone: chrono_tz::Tz = tz.parse().unwrap();
    let today = chrono::Utc::now().with_timezone(&zone).date_naive();
    let day = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
    let b = Browser::start();
    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    let path = format!("/settings/orgs/{org}/audit-log");
    open(&b, &base, &path, "Audit Log");
    let set_day = |css: &str, v: &str| {
        b.execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            json!([css, v]),
        );
    };
    let rows = || b.texts("tbody tr");
    let filter = |expected: &dyn Fn(&str) -> bool| {
        b.click(&format!("form[action='{path}'] button[type=submit]"));
        b.wait_for("the filtered log", WAIT, |url, html| {
            url.contains("action=") && expected(html)
        });
    };

    // Who and what: the admin's site creations, 50 on the first page.
    b.select("#f-actor", &ad);
    b.select("#f-action", "site.created");
    filter(&|html| html.contains("Older events"));
    let first = rows();
    assert_eq!(first.len(), 50, "{first:?}");
    assert!(
        first
            .iter()
            .all(|r| r.contains(&ad_name) && r.contains("Site created")),
        "{first:?}"
    );
    assert!(
        b.text().contains(&format!("({tz})")),
        "times in the person's zone"
    );
    check_page(
        &b,
        "Audit Log filtered",
        Some("settings-audit-log-filtered"),
    );
    // Older events keep the filters: the 51st of the admin's sites, nothing else.
    let older = b.attr("a[href*='before=']", "href").unwrap();
    assert!(
        older.contains(&format!("actor={ad}")) && older.contains("action=site.created"),
        "{older}"
    );
    b.click("a[href*='before=']");
    b.wait_for("older events", WAIT, |_, html| {
        html.contains("Newest events")
    });
    let second = rows();
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(second[0].contains(&ad_name) && second[0].contains("Site created"));
    assert_eq!(
        b.attr("#f-actor option:checked", "value").as_deref(),
        Some(&*ad)
    );

    // Days in the person's time zone: today (there) includes everything, yesterday nothing.
    open(&b, &base, &path, "Audit Log");
    b.select("#f-action", "site.created");
    set_day("#f-from", &day(today));
    set_day("#f-to", &day(today));
    filter(&|html| html.contains("Older events"));
    assert_eq!(rows().len(), 50);
    let yesterday = today.pred_opt().unwrap();
    set_day("#f-from", &day(yesterday));
    set_day("#f-to", &day(yesterday));
    filter(&|html| html.contains("No event matches these filters"));
    assert!(rows().is_empty());
    check_page(&b, "Audit Log with no match", None);

    // A bad day and a range that ends before it starts: said beside the field.
    open(&b, &base, &format!("{path}?from=31-01-2026"), "Audit Log");
    assert!(
        b.text().contains("Enter a day like 2026-01-31."),
        "{}",
        b.text()
    );
    open(
        &b,
        &base,
        &format!("{path}?from={}&to={}", day(today), day(yesterday)),
        "Audit Log",
    );
    assert!(b.text().contains("Choose a day on or after the first day."));
    check_page(&b, "Audit Log with a bad range", None);
}

/// Instance › Email Delivery in the browser, as the instance administrator: a refused
/// invitation is listed as failed with the reason; once the mail server accepts, Retry sends
/// it.
#[test]
fn email_delivery_retry_in_the_browser() {
    let smtp = crate::email_delivery::RefusingSmtp::start();
    let server = TestServer::builder()
        .env("TENANTRY_EMAIL_MODE", "smtp")
        .env(
            "TENANTRY_EMAIL_SMTP_URL",
            format!("smtp://127.0.0.1:{}?tls=none", smtp.port),
        )
        .start();
    let base = server.base_url();
    let mut admin = server.bootstrap_admin();
    let org = expect(
        &admin.post_json("/api/v1/orgs", &json!({"name": "Acme", "slug": "acme"})),
        201,
        "org",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    expect(
        &admin.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": "refused@example.test", "role": "member", "company_access": "all"}),
        ),
        201,
        "invitation",
    );
    let b = Browser::start();
    b.goto(&format!("{base}/login"));
    b.type_into("#email", crate::support::server::ADMIN_EMAIL);
    b.type_into("#password", crate::support::server::ADMIN_PASSWORD);
    b.click("button[type=submit]");
    b.wait_for("Settings", WAIT, |url, _| url == format!("{base}/settings"));
    let path = "/settings/instance/email-delivery";
    b.wait_for("the failed invitation", WAIT, |_, _| {
        b.goto(&format!("{base}{path}"));
        b.text().contains("r***d@example.test")
    });
    let text = b.text();
    assert!(
        text.contains("550") && text.contains("Invitation"),
        "{text}"
    );
    assert!(!text.contains("refused@example.test"), "{text}");
    check_page(&b, "Email Delivery", Some("settings-email-delivery"));
    smtp.accept
        .store(true, std::sync::atomic::Ordering::Relaxed);
    b.click("form[action$='/retry'] button[type=submit]");
    b.wait_for("the retry notice", WAIT, |_, _| {
        b.text().contains("queued again")
    });
    b.wait_for("the message sent", WAIT, |_, _| {
        b.goto(&format!("{base}{path}"));
        b.text().contains("No message has failed")
    });
    // A retried message leaves the failed list when it is queued again, before the SMTP
    // server has it: wait for the delivery itself.
    let delivered = || smtp.delivered.load(std::sync::atomic::Ordering::Relaxed);
    crate::support::wait::wait_until(WAIT, "the retried message at the SMTP server", || {
        delivered() >= 1
    });
    assert_eq!(delivered(), 1, "the retried message delivered once");
    check_page(&b, "Email Delivery with nothing failed", None);
}

/// Personal > General > Change email: a wrong password is refused beside its field; then the
/// link (as the development outbox shows it to an instance administrator) goes to the new
/// address, and following it shows the new address on the page.
#[test]
fn general_page_changes_the_email_address_through_the_emailed_link() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let old = "mover@orgs.test";
    let new = "moved@orgs.test";
    create_user(w.s(P::IA), old, None, Some(PW));
    let b = Browser::start();
    sign_in(&b, &base, old, PW);
    open(&b, &base, "/settings/personal/general", "General");
    assert!(b.exists("form[action='/settings/personal/general/email'] input[name=csrf_token]"));
    check_page(
        &b,
        "General with Change email",
        Some("general-change-email"),
    );

    // A wrong current password: the error sits beside the password field, the address stays.
    b.type_into("#f-email", new);
    b.type_into("#f-password", "not my password at all");
    b.click("form[action='/settings/personal/general/email'] button[type=submit]");
    b.wait_for("the password error", WAIT, |_, _| {
        b.exists("#f-password-error")
    });
    assert_eq!(
        b.texts("#f-password-error")[0],
        "Is not your current password."
    );
    assert_eq!(b.attr("#f-email", "value").as_deref(), Some(new));
    check_page(&b, "General with a password error", None);
    assert_eq!(outbox_count(server.data_dir(), new, "email_change"), 0);

    // The right password: post-redirect-get to a notice; nothing changes yet.
    b.clear("#f-password");
    b.type_into("#f-password", PW);
    submit(
        &b,
        "/settings/personal/general/email",
        "Check your inbox: we sent a link to the new address.",
    );
    assert!(b
        .url()
        .ends_with("/settings/personal/general?notice=email_change_sent"));
    assert!(b.text().contains(old), "{}", b.text());
    assert_eq!(outbox_count(server.data_dir(), new, "email_change"), 1);

    let outbox = w.s(P::IA).get("/dev/outbox").text();
    let marker = "/confirm-email-change?token=";
    // Handlebars writes `=` as `&#x3D;` in the page.
    let shown = "/confirm-email-change?token&#x3D;";
    let at = outbox.find(shown).expect("a change link in the outbox");
    let token: String = outbox[at + shown.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    b.goto(&format!("{base}{marker}{token}"));
    // Following the link asks for a click (a link scanner's fetch changes nothing).
    b.wait_for("the confirmation page", WAIT, |_, html| {
        html.contains("<h1>Confirm your new address</h1>")
    });
    assert!(b.text().contains(new), "{}", b.text());
    b.assert_accessible("the email-change confirmation page");
    b.click("form[action='/confirm-email-change'] button[type=submit]");
    b.wait_for("the change confirmed", WAIT, |_, html| {
        html.contains("<h1>Email address changed</h1>")
    });
    assert!(b.text().contains(new), "{}", b.text());
    // A page outside the settings frame: axe-core, and no sideways scrolling at 375 px.
    b.assert_accessible("the email-change confirmation");
    b.set_width(375);
    assert_eq!(b.sideways_overflow(), None, "the confirmation at 375 px");
    b.set_width(1280);

    open(&b, &base, "/settings/personal/general", "General");
    let facts = b.texts("dl.facts dd");
    assert!(facts[0].starts_with(new), "{facts:?}");
    assert!(facts[0].contains("confirmed"), "{facts:?}");
    assert_eq!(outbox_count(server.data_dir(), old, "email_changed"), 1);
    // The used link is dead.
    b.goto(&format!("{base}{marker}{token}"));
    b.wait_for("the dead link", WAIT, |_, html| {
        html.contains("<h1>Link invalid or expired</h1>")
    });
}

/// A company-limited admin (an organization admin whose company access is company A only),
/// driven through the pages: the Organization sections of an admin and only company A under
/// Company; Add member offers company A only (all companies is refused beside the field) and
/// invites to A; the member list, the audit log and every page keep company B out of sight;
/// company B's settings answer no data.
#[test]
fn company_limited_admin_sees_only_their_companies() {
    let server = TestServer::start();
    let mut w = World::build(&server);
    let base = server.base_url();
    let (org, a, cb) = (w.org.clone(), w.a.clone(), w.b.clone());
    let limited = "limited.admin@orgs.test";
    create_user(w.s(P::IA), limited, None, Some(PW));
    crate::orgs_matrix::add_member(w.s(P::IA), &org, limited, "admin", json!([a]));
    // Something new in company B, made by the owner: a site with a name to look for.
    let site_b = crate::orgs_matrix::create_site(w.s(P::OW), &cb, "Bravo Hidden Site");
    let b = Browser::start();
    let audit = format!("/settings/orgs/{org}/audit-log");

    // The owner's audit log names company B and its new site: the check below can fail.
    sign_in(&b, &base, &w.emails[&P::OW].clone(), PW);
    open(&b, &base, &audit, "Audit Log");
    let text = b.text();
    assert!(
        text.contains(&cb) && text.contains(&site_b),
        "owner sees B: {text}"
    );
    sign_out(&b, &base);

    // The sections `GET /me/sections` gives this admin (the instance administrator's session
    // slot is reused for it: the setup through the API is done).
    w.sessions.insert(P::IA, login(&server, limited, PW));
    let (org_labels, company_labels) = labels_from_api(&mut w, P::IA);

    // Navigation: the Organization sections of an admin, and company A only.
    sign_in(&b, &base, limited, PW);
    assert_eq!(nav(&b, "organization"), org_labels);
    for s in ["Admin Team", "API Keys", "Audit Log"] {
        assert!(org_labels.contains(&s.to_string()), "{org_labels:?}");
    }
    assert_eq!(nav(&b, "company"), company_labels);
    assert_eq!(company_labels, ["Sites", "Data Preferences", "Members"]);
    assert_eq!(b.texts("nav .scope"), ["Org One", "Company A"]);
    assert!(
        b.texts("nav details:not(.menu) a").is_empty(),
        "no switcher"
    );
    let text = b.text();
    assert!(!names_b_or_c(&text), "B or C shown: {text}");
    check_page(&b, "Settings (company-limited admin)", None);

    // Admin Team › Add member: company A only as a checkbox.
    let team = format!("/settings/orgs/{org}/admin-team");
    open(&b, &base, &team, "Admin Team");
    let boxes: Vec<String> = b
        .execute(
            "return Array.from(document.querySelectorAll('input[name=company]')).map(function (i) { return i.value; });",
            json!([]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(boxes, std::slice::from_ref(&a), "only company A is offered");
    let text = b.text();
    assert!(!names_b_or_c(&text), "B or C shown: {text}");
    // The member with access to A and B: only A is named.
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains("member@orgs.test"))
        .expect("member row");
    assert!(row.contains("Company A"), "{row}");
    check_page(&b, "Admin Team (company-limited admin)", None);

    // The form offers no "All companies" choice to a company-limited admin …
    assert!(
        !b.exists("input[name=access][value=all]"),
        "All companies offered to a company-limited admin"
    );
    assert!(b
        .text()
        .contains("Your access is limited to some companies"));
    // … and a hand-made post of it is refused beside the field.
    let new = "company.a.person@orgs.test";
    b.type_into("#f-email", new);
    b.execute(
        "document.querySelector('input[name=access]').value = 'all';",
        json!([]),
    );
    submit(
        &b,
        &format!("{team}/add"),
        "Please correct the fields marked below.",
    );
    let err = b.texts("#f-companies-error");
    assert_eq!(err.len(), 1, "{}", b.text());
    assert!(err[0].contains("limited to some companies"), "{err:?}");
    assert_eq!(outbox_count(server.data_dir(), new, "invitation"), 0);
    check_page(&b, "Add member refused (company-limited admin)", None);

    // Inviting to company A works (the form kept the address).
    assert!(!b.exists("input[name=access][value=all]"));
    b.click(&format!("input[name=company][value='{a}']"));
    submit(&b, &format!("{team}/add"), "Invitation sent.");
    let row = b
        .texts("tbody tr")
        .into_iter()
        .find(|r| r.contains(new))
        .expect("invitation row");
    assert!(row.contains("Company A"), "{row}");
    assert_eq!(outbox_count(server.data_dir(), new, "invitation"), 1);

    // Audit Log: nothing about company B.
    open(&b, &base, &audit, "Audit Log");
    let text = b.text();
    assert!(text.contains("Invitation"), "own invitation listed: {text}");
    for hidden in [
        cb.as_str(),
        site_b.as_str(),
        "Company B",
        "Bravo Hidden Site",
    ] {
        assert!(!text.contains(hidden), "{hidden} shown: {text}");
    }
    check_page(&b, "Audit Log (company-limited admin)", None);

    // Company B's settings answer no data.
    for path in ["sites", "data-preferences", "members"] {
        b.goto(&format!("{base}/settings/companies/{cb}/{path}"));
        b.wait_for("no data for B", WAIT, |_, html| html.contains("<h1>"));
        let text = b.text();
        assert!(
            text.contains("Page not found")
                || text.contains("not part of")
                || text.contains("is for"),
            "{path}: {text}"
        );
        for hidden in ["Company B", "Bravo Hidden Site"] {
            assert!(!text.contains(hidden), "{path}: {hidden} shown: {text}");
        }
        // The not-found page has no settings frame (and no menu to fold).
        if b.exists("details.menu") {
            check_page(&b, "company B (company-limited admin)", None);
        } else {
            b.assert_accessible("company B not found (company-limited admin)");
        }
    }
}

/// Whether a page's text names company B or company C (as words: "Company Company A" does not).
fn names_b_or_c(text: &str) -> bool {
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).collect();
    words
        .windows(2)
        .any(|w| w[0] == "Company" && (w[1] == "B" || w[1] == "C"))
}
