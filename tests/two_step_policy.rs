//! The organization's two-step sign-in policy over the API: owners only turn it
//! on, and only with two-step sign-in themselves; with a grace period of 0 it is enforced at
//! once (`403 two_step_required` for a person without it, on every route the organization
//! scopes), a grace period still running lets calls through with the deadline header; people
//! with two-step sign-in, single sign-on users and API keys pass; `/me` and enrolment stay
//! reachable; other organizations are unaffected, and a foreign organization's policy does
//! not reveal it. Changes are audited; turning it on emails the people it applies to.

use serde_json::{json, Value};

use crate::orgs_matrix::{
    add_company_member, add_member, audit_all, create_company, expect, expect_field,
    expect_problem, uniq, PW,
};
use crate::support::flows::{create_org, create_user, login};
use crate::support::{Response, Session, TestServer};
use crate::two_step::{code_at, now_step};

/// The deadline header during the grace period.
const HEADER: &str = "tenantry-two-step-deadline";

/// Enrols `s` in two-step sign-in through the API (start, then a first code).
pub(crate) fn enrol_api(s: &mut Session) {
    let e = expect(
        &s.post_json("/api/v1/me/two-step/enrolment", &json!({})),
        201,
        "start enrolment",
    );
    let secret = e["secret"].as_str().expect("secret").to_string();
    expect(
        &s.post_json(
            "/api/v1/me/two-step/enrolment/confirm",
            &json!({"code": code_at(&secret, now_step())}),
        ),
        200,
        "confirm enrolment",
    );
}

fn policy_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/two-step-policy")
}

fn set_policy(s: &mut Session, org: &str, on: bool, grace: i64) -> Response {
    s.put_json(
        &policy_path(org),
        &json!({"require_two_step": on, "grace_days": grace}),
    )
}

fn outbox_to(server: &TestServer, to: &str, template: &str) -> i64 {
    let c = rusqlite::Connection::open(server.data_dir().join("tenantry.db")).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c.query_row(
        "SELECT count(*) FROM outbox WHERE recipient = ?1 AND template = ?2",
        rusqlite::params![to, template],
        |r| r.get(0),
    )
    .unwrap()
}

/// Asserts the refusal after the deadline, naming the organization and where to enrol.
fn assert_refused(r: &Response, org: &str, ctx: &str) -> Value {
    let body = expect_problem(r, 403, "two_step_required", ctx);
    assert_eq!(body["org"], org, "{ctx}: {body}");
    assert!(
        body["hint"]
            .as_str()
            .is_some_and(|h| h.contains("/settings/personal/security")),
        "{ctx}: {body}"
    );
    assert_eq!(body["enrol_url"], "/settings/personal/security", "{ctx}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("requires two-step sign-in")),
        "{ctx}: {body}"
    );
    body
}

fn assert_open(r: &Response, ctx: &str) {
    expect(r, 200, ctx);
    assert_eq!(r.header(HEADER), None, "{ctx}: a deadline header");
}

#[test]
fn owners_require_two_step_sign_in_and_the_organization_enforces_it() {
    let server = TestServer::start();
    let mut ia = server.bootstrap_admin();
    let u = uniq();
    let email = |who: &str| format!("{who}-{u}@policy.test");
    let [owner, admin, member, enrolled, sso, cmember, late, biller] = [
        "owner", "admin", "member", "enrolled", "sso", "cmember", "late", "biller",
    ]
    .map(email);
    for e in [
        &owner, &admin, &member, &enrolled, &sso, &cmember, &late, &biller,
    ] {
        create_user(&mut ia, e, None, Some(PW));
    }
    let org = create_org(&mut ia, "Acme", &format!("acme-{u}"), Some(&owner));
    let other = create_org(&mut ia, "Other", &format!("other-{u}"), Some(&admin));
    let closed = create_org(&mut ia, "Closed", &format!("closed-{u}"), Some(&owner));
    add_member(&mut ia, &org, &admin, "admin", json!("all"));
    add_member(&mut ia, &org, &biller, "billing", json!("all"));
    for e in [&member, &enrolled, &sso, &late] {
        add_member(&mut ia, &org, e, "member", json!("all"));
    }
    add_member(&mut ia, &other, &member, "member", json!("all"));
    let ia_email = expect(&ia.get("/api/v1/me"), 200, "admin /me")["email"]
        .as_str()
        .unwrap()
        .to_string();
    add_member(&mut ia, &org, &ia_email, "member", json!("all"));
    let mut ow = login(&server, &owner, PW);
    let cmp = create_company(&mut ow, &org, "Acme Works", &format!("works-{u}"));
    add_company_member(&mut ia, &cmp, &cmember, "viewer");
    let key = expect(
        &ow.post_json(
            &format!("/api/v1/orgs/{org}/api-keys"),
            &json!({"name": "Reader", "scopes": ["org:read"]}),
        ),
        201,
        "owner creates a key",
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    let [mut ad, mut me, mut en, mut ss, mut cm, mut lt] =
        [&admin, &member, &enrolled, &sso, &cmember, &late].map(|e| login(&server, e, PW));
    enrol_api(&mut en);
    // A single sign-on person (written straight into the database: an SSO sign-in needs an
    // identity provider, which the SSO tests cover; here only the kind of account matters).
    let db = rusqlite::Connection::open(server.data_dir().join("tenantry.db")).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute(
        "UPDATE users SET auth = 'sso', sso_provider = 'Okta', password_hash = NULL WHERE email = ?1",
        [&sso],
    )
    .unwrap();

    // Off by default, readable by every member.
    let v = expect(&me.get(&policy_path(&org)), 200, "member reads the policy");
    assert_eq!(
        v,
        json!({"require_two_step": false, "grace_days": 0, "enabled_at": null,
               "deadline": null, "enforced": false})
    );

    // Admins cannot change it; bad input is refused beside the field.
    expect_problem(
        &set_policy(&mut ad, &org, true, 0),
        403,
        "forbidden",
        "admin",
    );
    expect_field(
        &set_policy(&mut ow, &org, true, 91),
        "grace_days",
        "grace 91",
    );
    expect_field(
        &set_policy(&mut ow, &org, true, -1),
        "grace_days",
        "grace -1",
    );
    // An owner without two-step sign-in would lock themselves out: refused.
    let body = expect_problem(
        &set_policy(&mut ow, &org, true, 0),
        409,
        "two_step_not_enabled",
        "owner without two-step",
    );
    assert!(
        body["detail"].as_str().unwrap().contains("lock you out"),
        "{body}"
    );
    assert_eq!(
        expect(&me.get(&policy_path(&org)), 200, "still off")["require_two_step"],
        false
    );

    // With two-step sign-in the owner turns it on, with no grace: enforced at once.
    enrol_api(&mut ow);
    let v = expect(
        &set_policy(&mut ow, &org, true, 0),
        200,
        "owner turns it on",
    );
    assert_eq!(v["require_two_step"], true, "{v}");
    assert_eq!(v["enforced"], true, "{v}");
    assert_eq!(v["deadline"], v["enabled_at"], "{v}");
    let enabled_at = v["enabled_at"].as_str().unwrap().to_string();
    assert!(actions(&mut ow, &org).contains(&"org.two_step_policy_updated".to_string()));
    // One email to each person it applies to; none to those it does not.
    for (who, n) in [
        (&member, 1),
        (&late, 1),
        (&admin, 1),
        (&cmember, 1),
        (&ia_email, 1),
    ] {
        assert_eq!(outbox_to(&server, who, "two_step_required"), n, "{who}");
    }
    for who in [&owner, &enrolled, &sso] {
        assert_eq!(outbox_to(&server, who, "two_step_required"), 0, "{who}");
    }

    // A member without two-step sign-in: every route of the organization refuses.
    let scoped = [
        format!("/api/v1/orgs/{org}"),
        format!("/api/v1/orgs/{org}/members"),
        format!("/api/v1/orgs/{org}/companies"),
        policy_path(&org),
        format!("/api/v1/companies/{cmp}"),
        format!("/api/v1/companies/{cmp}/sites"),
    ];
    for path in &scoped {
        let body = assert_refused(&me.get(path), &org, &format!("member GET {path}"));
        assert_eq!(body["deadline"], enabled_at.as_str(), "{body}");
    }
    assert_refused(
        &me.patch_json(&format!("/api/v1/companies/{cmp}"), &json!({"name": "x"})),
        &org,
        "member PATCH company",
    );
    // The company-only member and the instance administrator who belongs to it too.
    assert_refused(
        &cm.get(&format!("/api/v1/companies/{cmp}")),
        &org,
        "company member",
    );
    assert_refused(
        &ia.get(&format!("/api/v1/orgs/{org}")),
        &org,
        "instance admin",
    );
    // An admin without it, on the organization's invitations too.
    assert_refused(&ad.get(&format!("/api/v1/orgs/{org}")), &org, "admin");
    let inv = expect(
        &ow.post_json(
            &format!("/api/v1/orgs/{org}/invitations"),
            &json!({"email": format!("invitee-{u}@policy.test"), "role": "member",
                    "company_access": "all"}),
        ),
        201,
        "owner invites",
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_refused(
        &ad.post_json(&format!("/api/v1/invitations/{inv}/resend"), &json!({})),
        &org,
        "admin resends an invitation",
    );
    // Their own things, and other organizations, stay reachable.
    for path in [
        "/api/v1/me",
        "/api/v1/me/two-step",
        "/api/v1/me/memberships",
    ] {
        assert_open(&me.get(path), &format!("member {path}"));
    }
    assert_open(
        &me.get(&format!("/api/v1/orgs/{other}")),
        "another organization",
    );
    assert_open(
        &ia.get(&format!("/api/v1/orgs/{other}")),
        "instance oversight of an organization the admin is not in",
    );
    // A foreign organization's policy does not reveal it: the same 404 as ever.
    expect(
        &set_policy(&mut ow, &closed, true, 0),
        200,
        "policy of Closed",
    );
    let foreign = me.get(&format!("/api/v1/orgs/{closed}"));
    expect_problem(
        &foreign,
        404,
        "not_found",
        "foreign organization with a policy",
    );
    // People it does not apply to, and API keys.
    assert_open(&en.get(&format!("/api/v1/orgs/{org}")), "enrolled member");
    assert_open(
        &ss.get(&format!("/api/v1/orgs/{org}")),
        "single sign-on member",
    );
    assert_open(&ow.get(&format!("/api/v1/orgs/{org}")), "owner");
    let mut keyed = server.session();
    let auth = format!("Bearer {key}");
    let r = keyed.request(
        "GET",
        &format!("/api/v1/orgs/{org}"),
        &[("Authorization", auth.as_str())],
        None,
    );
    assert_open(&r, "API key");

    // The member enrols (enrolment stays reachable) and is let in.
    enrol_api(&mut me);
    for path in &scoped {
        assert_open(&me.get(path), &format!("enrolled member GET {path}"));
    }

    // A grace period still running: calls go through, with the deadline in a header. Only
    // the grace period changes, so the deadline counts from when it was turned on.
    let v = expect(&set_policy(&mut ow, &org, true, 30), 200, "grace 30");
    assert_eq!(v["enabled_at"], enabled_at.as_str(), "{v}");
    assert_eq!(v["enforced"], false, "{v}");
    let deadline = v["deadline"].as_str().unwrap().to_string();
    assert_ne!(deadline, enabled_at);
    for path in &scoped {
        let r = lt.get(path);
        expect(&r, 200, &format!("in grace GET {path}"));
        assert_eq!(r.header(HEADER), Some(deadline.as_str()), "{path}");
    }
    // The organization's billing page shows the deadline too.
    let mut bl = login(&server, &biller, PW);
    let billing_page = format!("/orgs/{org}/billing");
    let r = bl.get(&billing_page);
    assert_eq!(r.status, 200, "billing page in grace: {}", r.text());
    assert!(
        r.text().contains("Acme requires two-step sign-in from "),
        "{}",
        r.text()
    );
    // Not on personal routes, and not for those it does not apply to.
    assert_eq!(lt.get("/api/v1/me").header(HEADER), None);
    assert_open(
        &en.get(&format!("/api/v1/orgs/{org}")),
        "enrolled, in grace",
    );
    // Back to no grace: enforced again from the same moment.
    let v = expect(&set_policy(&mut ow, &org, true, 0), 200, "grace 0 again");
    assert_eq!(v["enforced"], true, "{v}");
    assert_refused(
        &lt.get(&format!("/api/v1/orgs/{org}")),
        &org,
        "late, grace 0",
    );
    // Pages send the person to Security, naming the organization.
    let r = bl.get(&billing_page);
    assert_eq!(r.status, 303, "{}", r.text());
    let to = format!("/settings/personal/security?required_by={org}");
    assert_eq!(r.header("location"), Some(to.as_str()));
    let page = bl.get(&to).text();
    assert!(
        page.contains("Acme requires two-step sign-in. Acme is closed to your account"),
        "{page}"
    );
    // Signing out is never refused.
    let r = cm.post_json("/api/v1/auth/logout", &json!({}));
    assert!(r.status < 300, "sign-out: {} {}", r.status, r.text());
    // Turning it off opens the organization again.
    let v = expect(&set_policy(&mut ow, &org, false, 0), 200, "off");
    assert_eq!(v["enabled_at"], Value::Null, "{v}");
    assert_open(&lt.get(&format!("/api/v1/orgs/{org}")), "policy off");
    assert_open(&ad.get(&format!("/api/v1/orgs/{org}")), "admin, policy off");
}

fn actions(s: &mut Session, org: &str) -> Vec<String> {
    audit_all(s, org)
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect()
}
