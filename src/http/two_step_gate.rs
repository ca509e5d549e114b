//! The two-step gate: an organization's two-step sign-in policy
//! (`service::two_step_policy`) applied to its routes, in one place, before any handler runs.
//!
//! It is not part of `authz::org_access`: that proof also builds `/me` sections and checks
//! grants, which must not change with the policy. The gate looks at the route's scoping ID
//! (`{org}`, `{cmp}` or `{inv}`) of API routes and organization or company pages, and at the
//! person of a session cookie:
//!
//! - API keys (an `Authorization` header) are not people and pass: the policy is about a
//!   person's sign-in, and a key never signs in with a password.
//! - Requests without a session, of people outside the organization, and of people the
//!   policy does not apply to (two-step sign-in on, or single sign-on) pass unchanged; the
//!   handler answers them as always.
//! - During the grace period a page shows a banner (the request carries it to the page
//!   frame) and an API answer carries the header [`DEADLINE_HEADER`] (RFC 3339).
//! - After the deadline a page redirects to Personal > Security, which names the
//!   organization, and an API call answers 403 `two_step_required`.
//!
//! Personal pages and `/api/v1/me…` (enrolment included), sign-out and instance pages have
//! no organization in their route and are never gated.

use serde_json::{json, Map};

use super::auth::optional_session;
use super::request::Req;
use super::response::Resp;
use super::routes::Route;
use crate::error::{Error, Result};
use crate::service::two_step_policy::{self, Requirement, Scope};
use crate::service::Context;

/// Personal > Security: where two-step sign-in is turned on.
pub const SECURITY_PAGE: &str = "/settings/personal/security";
/// The API answer header that carries the deadline (RFC 3339) during the grace period.
pub const DEADLINE_HEADER: &str = "Tenantry-Two-Step-Deadline";
/// The query parameter of Personal > Security naming the organization that sent the person.
pub const REQUIRED_BY: &str = "required_by";

/// What the gate decided for one request.
#[derive(Debug)]
pub enum Verdict {
    /// Nothing to do.
    Open,
    /// The policy applies and is not enforced yet.
    Grace(Requirement),
    /// The organization is closed to the caller: the response to send instead.
    Closed(Resp),
}

/// The scoping ID of a route the policy covers.
fn scope_of<'a>(route: &Route, req: &'a Req) -> Option<Scope<'a>> {
    let path = route.path;
    let covered = path.starts_with("/api/v1/")
        || path.starts_with("/settings/orgs/")
        || path.starts_with("/settings/companies/")
        || path.starts_with("/orgs/");
    if !covered {
        return None;
    }
    if let Some(id) = req.params.get("org") {
        return Some(Scope::Org(id));
    }
    if let Some(id) = req.params.get("cmp") {
        return Some(Scope::Company(id));
    }
    req.params.get("inv").map(|id| Scope::Invitation(id))
}

/// Decides for a routed request (its parameters filled).
pub fn check(app: &Context, route: &Route, req: &Req) -> Result<Verdict> {
    let Some(scope) = scope_of(route, req) else {
        return Ok(Verdict::Open);
    };
    if req.header("authorization").is_some() {
        return Ok(Verdict::Open);
    }
    let Some(policy) = two_step_policy::scoped(app, scope)? else {
        return Ok(Verdict::Open);
    };
    let Some(session) = optional_session(app, req)? else {
        return Ok(Verdict::Open);
    };
    let user = session.principal.user()?;
    let Some(r) = two_step_policy::requirement(app, user, &policy)? else {
        return Ok(Verdict::Open);
    };
    if !r.overdue() {
        return Ok(Verdict::Grace(r));
    }
    log::info!(
        "{} {} refused to user {}: {} requires two-step sign-in",
        req.method,
        route.path,
        user.id,
        r.org_id
    );
    Ok(Verdict::Closed(if route.page {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair(REQUIRED_BY, r.org_id.as_str());
        Resp::see_other(&format!("{SECURITY_PAGE}?{}", q.finish()))
    } else {
        refusal(&r)
    }))
}

/// The API refusal after the deadline: 403 `two_step_required`.
fn refusal(r: &Requirement) -> Resp {
    let e = Error::TwoStep {
        code: "two_step_required",
        message: format!(
            "{} requires two-step sign-in of its members since {}; turn it on for your account, then try again",
            r.org_name,
            r.deadline_rfc3339()
        ),
    };
    let mut extra = Map::new();
    extra.insert("org".into(), json!(r.org_id));
    extra.insert("deadline".into(), json!(r.deadline_rfc3339()));
    extra.insert(
        "hint".into(),
        json!(format!(
            "turn on two-step sign-in at {SECURITY_PAGE} (Personal > Security), or with POST /api/v1/me/two-step/enrolment and its confirm; your personal settings and /api/v1/me stay reachable"
        )),
    );
    extra.insert("enrol_url".into(), json!(SECURITY_PAGE));
    super::problem::from_error_with(&e, extra)
}
