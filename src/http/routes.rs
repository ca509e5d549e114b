//! The route table: every route of the product in one place, with its handler. The OpenAPI
//! document is checked against this table by a test, so a route cannot ship undocumented.

use super::problem;
use super::request::Req;
use super::response::Resp;
use super::two_step_gate::Verdict;
use super::{api, pages};
use crate::error::Result;
use crate::service::Context;

/// A handler: parse, authorize, call the service, render.
pub type Handler = fn(&Context, &Req) -> Result<Resp>;

/// One route.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path pattern with `{param}` segments.
    pub path: &'static str,
    /// The handler.
    pub handler: Handler,
    /// True for HTML pages and form posts (not part of the JSON API document).
    pub page: bool,
}

macro_rules! routes {
    ($( $m:literal $p:literal => $h:path $(, $page:ident)? ;)*) => {
        &[ $( Route { method: $m, path: $p, handler: $h, page: routes!(@page $($page)?) } ),* ]
    };
    (@page page) => { true };
    (@page) => { false };
}

/// Every route.
pub static ROUTES: &[Route] = routes! {
    "GET"   "/healthz"                      => api::system::healthz;
    "GET"   "/readyz"                       => api::system::readyz;
    "GET"   "/api/v1/openapi.json"          => api::system::openapi;
    "POST"  "/api/v1/setup"                 => api::setup::complete;
    "POST"  "/api/v1/auth/login"            => api::auth::login;
    "POST"  "/api/v1/auth/logout"           => api::auth::logout;
    "POST"  "/api/v1/auth/login/two-step"   => api::two_step::finish;
    "POST"  "/api/v1/auth/login/two-step/passkey/options" => api::passkeys::second_step_options;
    "POST"  "/api/v1/auth/login/two-step/passkey" => api::passkeys::finish_second_step;
    "GET"   "/api/v1/users"                 => api::users::list;
    "POST"  "/api/v1/users"                 => api::users::create;
    "PATCH" "/api/v1/users/{user}"          => api::users::update;
    "GET"   "/api/v1/me"                    => api::me::get;
    "PATCH" "/api/v1/me"                    => api::me::patch;
    "GET"   "/api/v1/me/preferences"        => api::me::get_preferences;
    "PUT"   "/api/v1/me/preferences"        => api::me::put_preferences;
    "GET"   "/api/v1/me/memberships"        => api::me::memberships;
    "GET"   "/api/v1/me/sections"           => api::me::sections;
    "GET"   "/api/v1/me/access"             => api::me::access;
    "POST"  "/api/v1/me/email-change"       => api::me::request_email_change;
    "POST"  "/api/v1/me/email-change/confirm" => api::me::confirm_email_change;
    "GET"   "/api/v1/me/two-step"           => api::two_step::status;
    "POST"  "/api/v1/me/two-step/enrolment" => api::two_step::start;
    "POST"  "/api/v1/me/two-step/enrolment/confirm" => api::two_step::confirm;
    "POST"  "/api/v1/me/two-step/disable"   => api::two_step::disable;
    "POST"  "/api/v1/me/two-step/recovery-codes" => api::two_step::regenerate;
    "GET"   "/api/v1/me/passkeys"           => api::passkeys::list;
    "POST"  "/api/v1/me/passkeys/registration/options" => api::passkeys::registration_options;
    "POST"  "/api/v1/me/passkeys/registration" => api::passkeys::register;
    "POST"  "/api/v1/me/passkeys/verification/options" => api::passkeys::verification_options;
    "PATCH" "/api/v1/me/passkeys/{passkey}" => api::passkeys::rename;
    "DELETE" "/api/v1/me/passkeys/{passkey}" => api::passkeys::remove;
    "GET"   "/api/v1/orgs"                  => api::orgs::list;
    "POST"  "/api/v1/orgs"                  => api::orgs::create;
    "GET"   "/api/v1/orgs/{org}"            => api::orgs::get;
    "PATCH" "/api/v1/orgs/{org}"            => api::orgs::patch;
    "DELETE" "/api/v1/orgs/{org}"           => api::orgs::delete;
    "GET"   "/api/v1/orgs/{org}/features"   => api::orgs::get_features;
    "PUT"   "/api/v1/orgs/{org}/features"   => api::orgs::put_features;
    "GET"   "/api/v1/orgs/{org}/members"    => api::orgs::list_members;
    "POST"  "/api/v1/orgs/{org}/members"    => api::orgs::add_member;
    "PATCH" "/api/v1/orgs/{org}/members/{user}" => api::orgs::patch_member;
    "DELETE" "/api/v1/orgs/{org}/members/{user}" => api::orgs::remove_member;
    "DELETE" "/api/v1/orgs/{org}/members/{user}/two-step" => api::two_step::reset_member;
    "POST"  "/api/v1/orgs/{org}/transfer-ownership" => api::orgs::transfer;
    "GET"   "/api/v1/orgs/{org}/companies"  => api::companies::list;
    "POST"  "/api/v1/orgs/{org}/companies"  => api::companies::create;
    "GET"   "/api/v1/orgs/{org}/data-repository" => api::orgs::get_repository;
    "PUT"   "/api/v1/orgs/{org}/data-repository" => api::orgs::put_repository;
    "GET"   "/api/v1/orgs/{org}/two-step-policy" => api::orgs::get_two_step_policy;
    "PUT"   "/api/v1/orgs/{org}/two-step-policy" => api::orgs::put_two_step_policy;
    "GET"   "/api/v1/orgs/{org}/billing"    => api::orgs::get_billing;
    "PUT"   "/api/v1/orgs/{org}/billing/profile" => api::orgs::put_billing_profile;
    "GET"   "/api/v1/orgs/{org}/billing/invoices" => api::orgs::list_invoices;
    "GET"   "/api/v1/orgs/{org}/billing/source" => api::orgs::get_billing_source;
    "PUT"   "/api/v1/orgs/{org}/billing/source" => api::orgs::put_billing_source;
    "GET"   "/api/v1/orgs/{org}/sso"        => api::sso::get;
    "PUT"   "/api/v1/orgs/{org}/sso"        => api::sso::put;
    "DELETE" "/api/v1/orgs/{org}/sso"       => api::sso::delete;
    "POST"  "/api/v1/orgs/{org}/sso/test"   => api::sso::test;
    "POST"  "/api/v1/auth/sso/discover"     => api::sso::discover;
    "POST"  "/api/v1/orgs/{org}/sso/domains/{domain}/verify" => api::sso::verify_domain;
    "POST"  "/api/v1/orgs/{org}/sso/domains/{domain}/approve" => api::sso::approve_domain;
    "GET"   "/api/v1/orgs/{org}/plugins"    => api::org_plugins::get;
    "PUT"   "/api/v1/orgs/{org}/plugins"    => api::org_plugins::put;
    "POST"  "/api/v1/orgs/{org}/billing/invoices" => api::orgs::import_invoices;
    "GET"   "/api/v1/orgs/{org}/audit-log"  => api::orgs::audit_log;
    "GET"   "/api/v1/orgs/{org}/api-keys"   => api::keys::list;
    "POST"  "/api/v1/orgs/{org}/api-keys"   => api::keys::create;
    "PATCH" "/api/v1/orgs/{org}/api-keys/{key}" => api::keys::patch;
    "DELETE" "/api/v1/orgs/{org}/api-keys/{key}" => api::keys::revoke;
    "POST"  "/api/v1/orgs/{org}/api-keys/{key}/rotate" => api::keys::rotate;
    "POST"  "/api/v1/keys/verify"           => api::keys::verify;
    "GET"   "/api/v1/orgs/{org}/invitations" => api::invitations::list;
    "POST"  "/api/v1/orgs/{org}/invitations" => api::invitations::create_org;
    "POST"  "/api/v1/companies/{cmp}/invitations" => api::invitations::create_company;
    "POST"  "/api/v1/invitations/accept"    => api::invitations::accept;
    "POST"  "/api/v1/invitations/{inv}/resend" => api::invitations::resend;
    "DELETE" "/api/v1/invitations/{inv}"    => api::invitations::revoke;
    "POST"  "/api/v1/auth/password-reset"   => api::passwords::request_reset;
    "POST"  "/api/v1/auth/password-reset/confirm" => api::passwords::confirm_reset;
    "POST"  "/api/v1/auth/verify-email"     => api::passwords::verify_email;
    "POST"  "/api/v1/me/password-reset"     => api::passwords::request_my_reset;
    "POST"  "/api/v1/me/verify-email"       => api::passwords::resend_verification;
    "GET"   "/api/v1/companies/{cmp}"       => api::companies::get;
    "PATCH" "/api/v1/companies/{cmp}"       => api::companies::patch;
    "DELETE" "/api/v1/companies/{cmp}"      => api::companies::delete;
    "GET"   "/api/v1/companies/{cmp}/sites" => api::companies::list_sites;
    "POST"  "/api/v1/companies/{cmp}/sites" => api::companies::create_site;
    "GET"   "/api/v1/companies/{cmp}/sites/{site}" => api::companies::get_site;
    "PATCH" "/api/v1/companies/{cmp}/sites/{site}" => api::companies::patch_site;
    "DELETE" "/api/v1/companies/{cmp}/sites/{site}" => api::companies::delete_site;
    "GET"   "/api/v1/companies/{cmp}/data-preferences" => api::companies::get_preferences;
    "PUT"   "/api/v1/companies/{cmp}/data-preferences" => api::companies::put_preferences;
    "GET"   "/api/v1/companies/{cmp}/members" => api::companies::list_members;
    "POST"  "/api/v1/companies/{cmp}/members" => api::companies::add_member;
    "PATCH" "/api/v1/companies/{cmp}/members/{user}" => api::companies::patch_member;
    "DELETE" "/api/v1/companies/{cmp}/members/{user}" => api::companies::remove_member;
    "GET"   "/__debug/panic"                => api::system::debug_panic, page;
    "GET"   "/"                             => pages::home::show, page;
    "GET"   "/login"                        => pages::login::show, page;
    "POST"  "/login"                        => pages::login::submit, page;
    "GET"   "/login/two-step"               => pages::two_step::show, page;
    "POST"  "/login/two-step"               => pages::two_step::submit, page;
    "POST"  "/login/two-step/passkey/options" => pages::passkeys::second_step_options, page;
    "POST"  "/login/two-step/passkey"       => pages::passkeys::second_step_submit, page;
    "POST"  "/login/passkey/options"        => pages::passkeys::passwordless_options, page;
    "POST"  "/login/passkey"                => pages::passkeys::passwordless_submit, page;
    "POST"  "/logout"                       => pages::login::logout, page;
    "GET"   "/setup"                        => pages::setup::show, page;
    "POST"  "/setup"                        => pages::setup::submit, page;
    "GET"   "/invite/{token}"               => pages::invite::show, page;
    "POST"  "/invite/{token}/accept"        => pages::invite::accept, page;
    "POST"  "/invite/{token}/signup"        => pages::invite::signup, page;
    "GET"   "/forgot-password"              => pages::password::forgot, page;
    "POST"  "/forgot-password"              => pages::password::forgot_submit, page;
    "GET"   "/reset-password"               => pages::password::reset, page;
    "POST"  "/reset-password"               => pages::password::reset_submit, page;
    "GET"   "/verify-email"                 => pages::password::verify_email, page;
    "GET"   "/confirm-email-change"         => pages::password::confirm_email_change, page;
    "POST"  "/confirm-email-change"         => pages::password::confirm_email_change_submit, page;
    "GET"   "/dev/outbox"                   => pages::outbox::show, page;
    "GET"   "/sso/{plugin}/start"           => pages::sso::start, page;
    "GET"   "/sso/{plugin}/callback"        => pages::sso::callback, page;
    "GET"   "/orgs/{org}/billing"           => pages::billing::show, page;
    "GET"   "/assets/{file}"                => pages::settings::assets::serve, page;
    "GET"   "/settings"                     => pages::settings::overview, page;
    "GET"   "/settings/personal/general"    => pages::settings::personal::general, page;
    "POST"  "/settings/personal/general/name" => pages::settings::personal::save_name, page;
    "POST"  "/settings/personal/general/password-reset" => pages::settings::personal::send_reset, page;
    "POST"  "/settings/personal/general/verify-email" => pages::settings::personal::send_verification, page;
    "POST"  "/settings/personal/general/email" => pages::settings::personal::change_email, page;
    "GET"   "/settings/personal/preferences" => pages::settings::personal::preferences, page;
    "POST"  "/settings/personal/preferences" => pages::settings::personal::save_preferences, page;
    "GET"   "/settings/personal/membership" => pages::settings::personal::membership, page;
    "GET"   "/settings/personal/security"   => pages::settings::security::security, page;
    "POST"  "/settings/personal/security/sign-out-others" => pages::settings::security::sign_out_others, page;
    "POST"  "/settings/personal/security/two-step/start" => pages::settings::security::start, page;
    "POST"  "/settings/personal/security/two-step/confirm" => pages::settings::security::confirm, page;
    "POST"  "/settings/personal/security/two-step/recovery-codes" => pages::settings::security::regenerate, page;
    "POST"  "/settings/personal/security/two-step/disable" => pages::settings::security::disable, page;
    "POST"  "/settings/personal/security/passkeys/{passkey}/remove" => pages::settings::security::remove_passkey, page;
    "GET"   "/settings/organization/{section}" => pages::settings::sections::first_org_section, page;
    "GET"   "/settings/orgs/{org}/{section}" => pages::settings::sections::org_section, page;
    "POST"  "/settings/orgs/{org}/admin-team/add" => pages::settings::admin_team::add, page;
    "POST"  "/settings/orgs/{org}/admin-team/two-step-policy" => pages::settings::admin_team::save_two_step_policy, page;
    "POST"  "/settings/orgs/{org}/billing/profile" => pages::settings::billing::save, page;
    "POST"  "/settings/orgs/{org}/data-repository" => pages::settings::data_repository::save, page;
    "POST"  "/settings/orgs/{org}/sso"     => pages::settings::sso::save, page;
    "POST"  "/settings/orgs/{org}/sso/remove" => pages::settings::sso::remove, page;
    "POST"  "/settings/orgs/{org}/sso/test" => pages::settings::sso::test, page;
    "POST"  "/settings/orgs/{org}/sso/domains/{domain}/verify" => pages::settings::sso::verify, page;
    "POST"  "/settings/orgs/{org}/sso/domains/{domain}/approve" => pages::settings::sso::approve, page;
    "POST"  "/settings/orgs/{org}/api-keys/create" => pages::settings::api_keys::create, page;
    "GET"   "/settings/orgs/{org}/api-keys/{key}" => pages::settings::api_keys::key, page;
    "POST"  "/settings/orgs/{org}/api-keys/{key}/rotate" => pages::settings::api_keys::rotate, page;
    "POST"  "/settings/orgs/{org}/api-keys/{key}/revoke" => pages::settings::api_keys::revoke, page;
    "POST"  "/settings/orgs/{org}/admin-team/invitations/{inv}/resend" => pages::settings::admin_team::resend, page;
    "POST"  "/settings/orgs/{org}/admin-team/invitations/{inv}/revoke" => pages::settings::admin_team::revoke, page;
    "GET"   "/settings/orgs/{org}/admin-team/members/{user}" => pages::settings::admin_team_member::member, page;
    "POST"  "/settings/orgs/{org}/admin-team/members/{user}" => pages::settings::admin_team_member::change_member, page;
    "POST"  "/settings/orgs/{org}/admin-team/members/{user}/remove" => pages::settings::admin_team_member::remove_member, page;
    "POST"  "/settings/orgs/{org}/admin-team/members/{user}/two-step/reset" => pages::settings::admin_team_member::reset_two_step, page;
    "GET"   "/settings/companies/{cmp}/{section}" => pages::settings::sections::company_section, page;
    "POST"  "/settings/companies/{cmp}/sites/add" => pages::settings::company::add_site, page;
    "GET"   "/settings/companies/{cmp}/sites/{site}" => pages::settings::company::site, page;
    "POST"  "/settings/companies/{cmp}/sites/{site}" => pages::settings::company::save_site, page;
    "POST"  "/settings/companies/{cmp}/sites/{site}/delete" => pages::settings::company::delete_site, page;
    "POST"  "/settings/companies/{cmp}/data-preferences" => pages::settings::company::save_preferences, page;
    "POST"  "/settings/companies/{cmp}/members/add" => pages::settings::company_members::add_member, page;
    "POST"  "/settings/companies/{cmp}/members/{user}/role" => pages::settings::company_members::change_member, page;
    "POST"  "/settings/companies/{cmp}/members/{user}/remove" => pages::settings::company_members::remove_member, page;
    "GET"   "/settings/instance/organizations" => pages::settings::instance::organizations, page;
    "POST"  "/settings/instance/organizations" => pages::settings::instance::create_organization, page;
    "GET"   "/settings/instance/organizations/{org}" => pages::settings::instance::organization, page;
    "POST"  "/settings/instance/organizations/{org}/features" => pages::settings::instance::save_features, page;
    "POST"  "/settings/instance/organizations/{org}/plugins" => pages::settings::instance::save_plugins, page;
    "GET"   "/settings/instance/users"      => pages::settings::instance::users_list, page;
    "POST"  "/settings/instance/users"      => pages::settings::instance::create_user, page;
    "POST"  "/settings/instance/users/{user}/disable" => pages::settings::instance::disable_user, page;
    "POST"  "/settings/instance/users/{user}/enable" => pages::settings::instance::enable_user, page;
    "GET"   "/settings/instance/email-delivery" => pages::settings::email_delivery::show, page;
    "POST"  "/settings/instance/email-delivery/{id}/retry" => pages::settings::email_delivery::retry, page;
    "GET"   "/settings/developers"          => pages::settings::help::developers, page;
    "GET"   "/settings/help"                => pages::settings::help::index, page;
    "GET"   "/settings/help/{page}"         => pages::settings::help::show, page;
};

/// One segment of a route pattern.
#[derive(Clone, Copy)]
enum Seg {
    Lit(&'static str),
    Param(&'static str),
}

/// Paths with more segments than this match no route (the longest pattern has 8).
const MAX_SEGMENTS: usize = 16;

/// One route of the table, split into segments once.
struct Entry {
    route: &'static Route,
    segs: Vec<Seg>,
    /// Patterns of other API routes that match a strict subset of this route's paths
    /// (a literal where this one has a parameter): on a path they fit, this route does not
    /// apply. Empty for almost every route.
    shadowed_by: Vec<Vec<Seg>>,
}

/// The route table grouped by segment count, in table order.
struct Compiled {
    by_len: Vec<Vec<Entry>>,
}

fn split(path: &'static str) -> Vec<Seg> {
    path.split('/')
        .map(
            |p| match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => Seg::Param(name),
                None => Seg::Lit(p),
            },
        )
        .collect()
}

/// True when every path `narrow` fits is also fitted by `wide`, and `narrow` has a literal
/// where `wide` has a parameter (so it is the more specific of the two).
fn narrower(narrow: &[Seg], wide: &[Seg]) -> bool {
    narrow.len() == wide.len()
        && narrow.iter().zip(wide).all(|pair| match pair {
            (Seg::Lit(a), Seg::Lit(b)) => a == b,
            (_, Seg::Param(_)) => true,
            (Seg::Param(_), Seg::Lit(_)) => false,
        })
        && narrow
            .iter()
            .zip(wide)
            .any(|pair| matches!(pair, (Seg::Lit(_), Seg::Param(_))))
}

fn compiled() -> &'static Compiled {
    static COMPILED: std::sync::OnceLock<Compiled> = std::sync::OnceLock::new();
    COMPILED.get_or_init(|| {
        let mut by_len: Vec<Vec<Entry>> = (0..=MAX_SEGMENTS).map(|_| Vec::new()).collect();
        for route in ROUTES {
            let segs = split(route.path);
            assert!(
                segs.len() <= MAX_SEGMENTS,
                "route {} is too long",
                route.path
            );
            // OpenAPI matches a concrete path before a templated one: an API path with a
            // literal segment is a resource of its own, so a method it does not declare is
            // 405 there rather than a call to its templated sibling (`DELETE
            // /api/v1/invitations/accept` is not a revocation of invitation "accept").
            // Pages keep falling through: a section page and its form share a URL.
            let shadowed_by = if route.page {
                Vec::new()
            } else {
                let mut narrower_paths: Vec<&'static str> = ROUTES
                    .iter()
                    .filter(|r| !r.page && narrower(&split(r.path), &segs))
                    .map(|r| r.path)
                    .collect();
                narrower_paths.sort_unstable();
                narrower_paths.dedup();
                narrower_paths.into_iter().map(split).collect()
            };
            by_len[segs.len()].push(Entry {
                route,
                segs,
                shadowed_by,
            });
        }
        Compiled { by_len }
    })
}

/// True when `path` (split into `parts`) fits the pattern: literals equal, parameters
/// non-empty.
fn fits(segs: &[Seg], parts: &[&str]) -> bool {
    segs.iter().zip(parts).all(|(s, a)| match s {
        Seg::Lit(l) => l == a,
        Seg::Param(_) => !a.is_empty(),
    })
}

/// The route for `method` on a path split into `parts` (at most [`MAX_SEGMENTS`]), or the
/// methods the path accepts (empty: no such path). `HEAD` is answered by `GET` routes.
fn find(method: &str, parts: &[&str], allowed: &mut Vec<&'static str>) -> Option<&'static Entry> {
    let method = if method == "HEAD" { "GET" } else { method };
    let candidates = compiled()
        .by_len
        .get(parts.len())
        .map_or(&[][..], Vec::as_slice);
    for entry in candidates {
        if !fits(&entry.segs, parts)
            || (!entry.shadowed_by.is_empty() && entry.shadowed_by.iter().any(|s| fits(s, parts)))
        {
            continue;
        }
        if entry.route.method == method {
            return Some(entry);
        }
        allowed.push(entry.route.method);
    }
    None
}

/// Finds the route for a request and runs it; 404 and 405 (with `Allow`) otherwise.
pub fn dispatch(app: &Context, req: &mut Req) -> Resp {
    if !req.query.is_empty() && super::auth::key_in_query(req) {
        return problem::from_error(&crate::error::Error::KeyInQuery);
    }
    let mut parts = [""; MAX_SEGMENTS];
    let mut n = 0;
    for part in req.path.split('/') {
        if n == MAX_SEGMENTS {
            n = 0; // longer than any route: matches none
            break;
        }
        parts[n] = part;
        n += 1;
    }
    let mut allowed: Vec<&str> = Vec::new();
    if let Some(Entry { route, segs, .. }) = find(&req.method, &parts[..n], &mut allowed) {
        req.route = route.path;
        for (s, a) in segs.iter().zip(&parts[..n]) {
            if let Seg::Param(name) = s {
                req.params.insert(name, (*a).to_string());
            }
        }
        if let Some(resp) = super::auth::csrf_guard(app, req) {
            return resp;
        }
        let fail = |e: &crate::error::Error| {
            if route.page {
                pages::error_page(app, e)
            } else {
                problem::from_error(e)
            }
        };
        // The organization's two-step sign-in policy, for every route it scopes.
        let grace = match super::two_step_gate::check(app, route, req) {
            Ok(Verdict::Open) => None,
            Ok(Verdict::Grace(r)) => Some(r),
            Ok(Verdict::Closed(resp)) => return resp,
            Err(e) => return fail(&e),
        };
        if route.page {
            req.two_step_grace = grace.as_ref().map(|r| (r.org_name.clone(), r.deadline));
        }
        let resp = match (route.handler)(app, req) {
            Ok(resp) => resp,
            Err(e) => fail(&e),
        };
        return match grace {
            Some(r) if !route.page => {
                resp.header(super::two_step_gate::DEADLINE_HEADER, r.deadline_rfc3339())
            }
            _ => resp,
        };
    }
    if allowed.is_empty() {
        return problem::http(404, "not_found", "Not found", "no such route");
    }
    method_not_allowed(allowed)
}

/// 405 with an `Allow` header naming exactly the methods the path answers (`HEAD` wherever
/// `GET` is).
fn method_not_allowed(mut allowed: Vec<&str>) -> Resp {
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    let allow = allowed.join(", ");
    problem::http(
        405,
        "method_not_allowed",
        "Method not allowed",
        &format!("this route accepts {allow}"),
    )
    .header("Allow", allow)
}

/// The path as it may appear in logs (segments that carry tokens are redacted).
pub fn loggable_path(path: &str) -> String {
    const TOKEN_PREFIXES: &[&str] = &["/invite/"];
    for p in TOKEN_PREFIXES {
        if path.starts_with(p) {
            return format!("{p}[redacted]");
        }
    }
    if path.contains("tnt_") {
        // Never log something shaped like an API key, even pasted into a path.
        return path
            .split('/')
            .map(|seg| {
                if seg.contains("tnt_") {
                    "[redacted]"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
    }
    if path.len() > 200 {
        return format!(
            "{}…",
            &path[..path
                .char_indices()
                .nth(200)
                .map(|(i, _)| i)
                .unwrap_or(path.len())]
        );
    }
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pattern` fits `path`, splitting both.
    fn fits_str(pattern: &str, path: &str) -> bool {
        let (mut pat, mut act) = (pattern.split('/'), path.split('/'));
        loop {
            match (pat.next(), act.next()) {
                (None, None) => break true,
                (Some(p), Some(a)) if p.starts_with('{') && !a.is_empty() => {}
                (Some(p), Some(a)) if p == a => {}
                _ => break false,
            }
        }
    }

    /// Positions of the `{param}` segments of a pattern.
    fn params_at(pattern: &str) -> Vec<usize> {
        pattern
            .split('/')
            .enumerate()
            .filter(|(_, s)| s.starts_with('{'))
            .map(|(i, _)| i)
            .collect()
    }

    /// The route table matched the slow way: a linear scan, splitting both paths, and an
    /// API route set aside where another API route with fewer parameters (a subset of its
    /// positions) also fits. The index must give the same answer.
    fn linear(method: &str, path: &str) -> Result<&'static str, Vec<&'static str>> {
        let mut allowed = Vec::new();
        for route in ROUTES {
            if !fits_str(route.path, path) {
                continue;
            }
            let mine = params_at(route.path);
            let shadowed = !route.page
                && ROUTES.iter().any(|other| {
                    let theirs = params_at(other.path);
                    !other.page
                        && other.path != route.path
                        && fits_str(other.path, path)
                        && theirs.len() < mine.len()
                        && theirs.iter().all(|i| mine.contains(i))
                });
            if shadowed {
                continue;
            }
            if route.method == method {
                return Ok(route.path);
            }
            allowed.push(route.method);
        }
        Err(allowed)
    }

    /// The same question answered through the index, as `dispatch` asks it.
    fn indexed(method: &str, path: &str) -> Result<&'static str, Vec<&'static str>> {
        let parts: Vec<&str> = path.split('/').collect();
        let n = if parts.len() > MAX_SEGMENTS {
            0
        } else {
            parts.len()
        };
        let mut allowed = Vec::new();
        match find(method, &parts[..n], &mut allowed) {
            Some(entry) => Ok(entry.route.path),
            None => Err(allowed),
        }
    }

    // Issue 14: an undeclared method on a known API path is 405 with the path's own
    // methods, never a call to a templated sibling route.
    #[test]
    fn an_api_path_with_a_literal_segment_is_its_own_resource() {
        assert_eq!(
            indexed("DELETE", "/api/v1/invitations/accept"),
            Err(vec!["POST"])
        );
        assert_eq!(
            indexed("GET", "/api/v1/invitations/accept"),
            Err(vec!["POST"])
        );
        assert_eq!(
            indexed("DELETE", "/api/v1/invitations/inv_1"),
            Ok("/api/v1/invitations/{inv}")
        );
        assert_eq!(
            indexed("POST", "/api/v1/invitations/accept"),
            Ok("/api/v1/invitations/accept")
        );
        // Pages still share a URL between a section page and its form.
        assert_eq!(
            indexed("GET", "/settings/orgs/x1/sso"),
            Ok("/settings/orgs/{org}/{section}")
        );
        assert_eq!(
            indexed("POST", "/settings/orgs/x1/sso"),
            Ok("/settings/orgs/{org}/sso")
        );
    }

    #[test]
    fn the_route_index_answers_like_a_linear_scan() {
        let mut paths: Vec<String> = ROUTES
            .iter()
            .flat_map(|r| {
                let filled: Vec<String> = r
                    .path
                    .split('/')
                    .map(|s| {
                        if s.starts_with('{') {
                            "x1".into()
                        } else {
                            s.to_string()
                        }
                    })
                    .collect();
                let p = filled.join("/");
                [
                    p.clone(),
                    format!("{p}/"),
                    format!("{p}/extra"),
                    p.replace("x1", ""),
                    p.rsplit_once('/')
                        .map(|(a, _)| a.to_string())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        paths.extend(["", "/", "//", "/nope", &"/a".repeat(40)].map(String::from));
        let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "BREW"];
        let mut found = 0;
        for p in &paths {
            for m in methods {
                let want = linear(m, p);
                found += usize::from(want.is_ok());
                assert_eq!(indexed(m, p), want, "{m} {p}");
            }
        }
        // Every route is reachable through the index.
        for r in ROUTES {
            let p: Vec<&str> = r
                .path
                .split('/')
                .map(|s| if s.starts_with('{') { "x1" } else { s })
                .collect();
            assert_eq!(indexed(r.method, &p.join("/")), Ok(r.path), "{}", r.path);
        }
        assert!(found >= ROUTES.len(), "only {found} matches");
    }
}
