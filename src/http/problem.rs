//! The one mapping from domain errors to what the outside sees: [`Problem::of`] is a single
//! exhaustive match giving status, stable `code`, title, detail and extension members. The API
//! renders it as an RFC 9457 problem+json document; pages render the same value.

use serde_json::{json, Map, Value};

use super::response::Resp;
use crate::error::{Error, FieldError};

/// What an error says to the outside, decided once: the API renders it as problem+json and
/// the pages render the same value as an error page or a form error.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Stable machine code (also the last segment of `type`).
    pub code: &'static str,
    /// Short safe title.
    pub title: &'static str,
    /// A lowercase sentence, safe to show, that hints at the fix.
    pub detail: String,
    /// Extra members of the problem document (`errors`, `scope`, `challenge`, …).
    pub extensions: Map<String, Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl Problem {
    /// The one exhaustive mapping: a new error variant does not compile until it has a
    /// status, a code, a title, a detail and its extension members here.
    pub fn of(e: &Error) -> Problem {
        let mut ext = Map::new();
        let mut retry_after = None;
        let (status, code, title, detail) = match e {
            Error::InvalidJson(m) => (
                400,
                "invalid_json",
                "Request body is not valid JSON",
                format!("invalid json: {m}"),
            ),
            Error::Validation(errs) => {
                ext.insert(
                    "errors".into(),
                    serde_json::to_value(errs).unwrap_or_default(),
                );
                if is_conflict(errs) {
                    (
                        409,
                        "conflict",
                        "Conflicts with the current state",
                        "well-formed, but conflicts with the current state; see errors".into(),
                    )
                } else {
                    (
                        422,
                        "validation_failed",
                        "Some fields are invalid",
                        "one or more fields are invalid; see errors".into(),
                    )
                }
            }
            Error::Unauthenticated => (
                401,
                "unauthenticated",
                "Authentication required",
                "sign in or send a valid API key".into(),
            ),
            Error::InvalidCredentials => (
                401,
                "invalid_credentials",
                "Invalid email or password",
                "the email or password is wrong".into(),
            ),
            Error::Forbidden(m) => (403, "forbidden", "Forbidden", m.clone()),
            Error::PermissionDenied { permission, reason } => {
                ext.insert("permission".into(), json!(permission));
                (403, "forbidden", "Forbidden", reason.clone())
            }
            Error::NotOrgMember => (
                403,
                "not_org_member",
                "Not a member of this organization",
                "you are a member of companies in this organization, not of the organization itself; ask an organization admin to add you".into(),
            ),
            Error::InvitationNotFound => (
                404,
                "invitation_not_found",
                "Invitation not found",
                "this invitation link is not valid; check that you copied the whole link".into(),
            ),
            Error::InvitationExpired => (
                410,
                "invitation_expired",
                "Invitation expired",
                "this invitation has expired; ask the person who invited you to resend it".into(),
            ),
            Error::InvitationRevoked => (
                410,
                "invitation_revoked",
                "Invitation no longer valid",
                "this invitation link is no longer valid; it was revoked or replaced by a newer one".into(),
            ),
            Error::InvitationUsed => (
                409,
                "invitation_used",
                "Invitation already used",
                "this invitation has already been accepted".into(),
            ),
            Error::EmailMismatch { invited, signed_in } => (
                403,
                "email_mismatch",
                "Signed in with another email",
                format!(
                    "this invitation is for {invited}, but you are signed in as {signed_in}; sign out, or ask the person who invited you to resend it to your address"
                ),
            ),
            Error::EmailUnverified => (
                403,
                "email_unverified",
                "Email not verified",
                "confirm your email address first, then accept the invitation".into(),
            ),
            Error::SsoManaged => (
                409,
                "sso_managed",
                "Password managed by SSO",
                "you sign in with SSO; your IT administrator manages your password".into(),
            ),
            Error::TokenInvalid => (
                404,
                "token_invalid",
                "Link invalid or expired",
                "this link is invalid, was already used, or has expired; ask for a new one".into(),
            ),
            Error::InsufficientScope(s) => {
                ext.insert("scope".into(), json!(s));
                (
                    403,
                    "insufficient_scope",
                    "Insufficient scope",
                    format!("this API key needs the `{s}` scope"),
                )
            }
            Error::KeyRejected(code) => (
                401,
                *code,
                "API key refused",
                match *code {
                    "key_unknown" => "this API key does not exist",
                    "key_revoked" => "this API key has been revoked",
                    "key_expired" => "this API key has expired",
                    "key_disabled" => "API keys are turned off for this organization",
                    "key_empty" => "the Authorization header has no key after Bearer",
                    "key_wrong_prefix" => "tenantry API keys start with tnt_",
                    "key_truncated" => "this API key is incomplete; copy the whole key",
                    "key_bad_checksum" => "this API key has a typo (its checksum does not match)",
                    _ => "this is not a tenantry API key",
                }
                .into(),
            ),
            Error::KeyInQuery => (
                400,
                "key_in_query",
                "API key in the query string",
                "never put an API key in a URL; send it as Authorization: Bearer <key>".into(),
            ),
            Error::KeyRecentlyUsed { last_used_at } => {
                ext.insert("last_used_at".into(), json!(last_used_at));
                (
                    409,
                    "key_recently_used",
                    "Key in use",
                    format!(
                        "this key was used at {last_used_at}, less than 10 minutes ago; move its traffic first or pass force=true"
                    ),
                )
            }
            Error::FeatureDisabled(feat) => {
                ext.insert("feature".into(), json!(feat));
                (
                    403,
                    "feature_disabled",
                    "Feature disabled",
                    format!("the `{feat}` feature is off for this organization; an instance administrator can turn it on"),
                )
            }
            Error::LastOwner => (
                409,
                "last_owner",
                "Last owner",
                "an organization must keep at least one owner; make someone else owner first".into(),
            ),
            Error::NotFound => (404, "not_found", "Not found", "no such resource".into()),
            Error::RateLimited { retry_after_secs } => {
                retry_after = Some(*retry_after_secs);
                (
                    429,
                    "rate_limited",
                    "Too many attempts",
                    format!("too many attempts; try again in {retry_after_secs} seconds"),
                )
            }
            Error::Conflict(m) => (409, "conflict", "Conflict", m.clone()),
            Error::SetupTokenInvalid => (
                404,
                "setup_token_invalid",
                "Setup link is invalid or already used",
                "the setup link is invalid or has already been used".into(),
            ),
            Error::AccountDisabled => (
                403,
                "account_disabled",
                "Account disabled",
                "this account is disabled".into(),
            ),
            Error::Sso { code, message } => (
                match *code {
                    "sso_provider_failed" | "sso_misconfigured" => 502,
                    "sso_email_unverified" | "sso_domain_mismatch" | "sso_admin_not_linked" => 403,
                    "domain_verification_failed" => 422,
                    _ => 400,
                },
                *code,
                "Single sign-on failed",
                message.clone(),
            ),
            Error::MfaRequired {
                challenge,
                expires_in,
                methods,
            } => {
                ext.insert("challenge".into(), json!(challenge.expose()));
                ext.insert("expires_in".into(), json!(expires_in));
                ext.insert("methods".into(), json!(methods.names()));
                (
                    401,
                    "mfa_required",
                    "Second sign-in step required",
                    "the password is right; finish signing in with this challenge: a code from your authenticator app (or a recovery code) at POST /api/v1/auth/login/two-step, or a passkey through POST /api/v1/auth/login/two-step/passkey/options and POST /api/v1/auth/login/two-step/passkey (`methods` lists what this account has)".into(),
                )
            }
            Error::TwoStep { code, message } => (
                match *code {
                    "two_step_code_invalid" | "two_step_challenge_invalid" => 401,
                    "passkey_not_accepted" => 401,
                    "passkey_invalid" | "passkey_ceremony_invalid" => 400,
                    "two_step_required" | "passkey_verification_required" => 403,
                    _ => 409,
                },
                *code,
                "Two-step sign-in",
                message.clone(),
            ),
            Error::BillingUnavailable { contact } => {
                ext.insert("billing_contact_email".into(), json!(contact));
                (
                    503,
                    "billing_unavailable",
                    "Billing data temporarily unavailable",
                    billing_unavailable_text(contact.as_deref()),
                )
            }
            Error::SchemaTooNew { .. } | Error::Config(_) | Error::Internal(_) => (
                500,
                "internal",
                "Internal server error",
                "something went wrong on the server; it has been logged".into(),
            ),
        };
        Problem {
            status,
            code,
            title,
            detail,
            extensions: ext,
            retry_after,
        }
    }

    /// Adds members to the problem document (e.g. the organization and deadline of
    /// `two_step_required`); they replace members of the same name.
    pub fn with(mut self, extra: Map<String, Value>) -> Problem {
        self.extensions.extend(extra);
        self
    }

    /// True for a failure inside the server (its cause is logged, never shown).
    pub fn is_internal(&self) -> bool {
        self.status >= 500 && self.code == "internal"
    }

    /// The RFC 9457 document: `type`, `title`, `status`, `detail`, `code` and the extensions.
    pub fn document(&self) -> Value {
        let mut body = json!({
            "type": format!("https://tenantry.dev/problems/{}", self.code),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        });
        for (k, v) in &self.extensions {
            body[k] = v.clone();
        }
        body
    }

    /// The problem+json response (with `Retry-After` when the problem has one).
    pub fn response(&self) -> Resp {
        let mut resp = problem_body(self.status, &self.document());
        if let Some(secs) = self.retry_after {
            resp = resp.header("Retry-After", secs.to_string());
        }
        resp
    }

    /// The detail as a sentence for people (capital first letter, full stop, no backticks),
    /// for pages.
    pub fn sentence(&self) -> String {
        sentence(&self.detail)
    }
}

/// Whether every field error of a refusal is a conflict with the current state (then the
/// request was well-formed: 409, not 422).
fn is_conflict(errs: &[FieldError]) -> bool {
    !errs.is_empty() && errs.iter().all(|e| e.conflict)
}

/// A lowercase message as a sentence for people: capital first letter, final full stop, and
/// no backticks.
pub fn sentence(msg: &str) -> String {
    let m = msg.replace('`', "");
    let mut chars = m.trim().chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The sentence shown when a billing plugin fails.
pub fn billing_unavailable_text(contact: Option<&str>) -> String {
    match contact {
        Some(c) => {
            format!("Billing data is temporarily unavailable. For billing questions, email {c}.")
        }
        None => "Billing data is temporarily unavailable. Try again later.".to_string(),
    }
}

/// Builds the problem response for an error; internal details go to the log only.
pub fn from_error(e: &Error) -> Resp {
    from_error_with(e, Map::new())
}

/// Like [`from_error`], with extra members in the problem document (e.g. the organization
/// and deadline of `two_step_required`).
pub fn from_error_with(e: &Error, extra: Map<String, Value>) -> Resp {
    let p = Problem::of(e).with(extra);
    if p.is_internal() {
        log::error!("{e}");
    }
    p.response()
}

/// A problem response for conditions found by the HTTP layer itself (no domain error).
pub fn http(status: u16, code: &str, title: &str, detail: &str) -> Resp {
    problem_body(
        status,
        &json!({
            "type": format!("https://tenantry.dev/problems/{code}"),
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
        }),
    )
}

fn problem_body(status: u16, body: &serde_json::Value) -> Resp {
    Resp::new(status)
        .header("Content-Type", "application/problem+json")
        .body(serde_json::to_vec(body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Methods;

    /// Numbers each variant; no wildcard, so a new variant fails to compile here until the
    /// table below has a sample of it.
    fn variant(e: &Error) -> usize {
        match e {
            Error::InvalidJson(_) => 0,
            Error::Validation(_) => 1,
            Error::Unauthenticated => 2,
            Error::InvalidCredentials => 3,
            Error::Forbidden(_) => 4,
            Error::PermissionDenied { .. } => 5,
            Error::InsufficientScope(_) => 6,
            Error::KeyRejected(_) => 7,
            Error::KeyInQuery => 8,
            Error::KeyRecentlyUsed { .. } => 9,
            Error::InvitationNotFound => 10,
            Error::InvitationExpired => 11,
            Error::InvitationRevoked => 12,
            Error::InvitationUsed => 13,
            Error::EmailMismatch { .. } => 14,
            Error::EmailUnverified => 15,
            Error::SsoManaged => 16,
            Error::TokenInvalid => 17,
            Error::NotOrgMember => 18,
            Error::FeatureDisabled(_) => 19,
            Error::LastOwner => 20,
            Error::NotFound => 21,
            Error::RateLimited { .. } => 22,
            Error::Conflict(_) => 23,
            Error::SetupTokenInvalid => 24,
            Error::AccountDisabled => 25,
            Error::Sso { .. } => 26,
            Error::MfaRequired { .. } => 27,
            Error::TwoStep { .. } => 28,
            Error::BillingUnavailable { .. } => 29,
            Error::SchemaTooNew { .. } => 30,
            Error::Config(_) => 31,
            Error::Internal(_) => 32,
        }
    }
    const VARIANTS: usize = 33;

    fn table() -> Vec<(Error, u16, &'static str, &'static [&'static str])> {
        vec![
            (Error::InvalidJson("eof".into()), 400, "invalid_json", &[]),
            (
                Error::field("name", "is required"),
                422,
                "validation_failed",
                &["errors"],
            ),
            (
                Error::conflict_field("slug", "is taken"),
                409,
                "conflict",
                &["errors"],
            ),
            (Error::Unauthenticated, 401, "unauthenticated", &[]),
            (Error::InvalidCredentials, 401, "invalid_credentials", &[]),
            (Error::Forbidden("no".into()), 403, "forbidden", &[]),
            (
                Error::PermissionDenied {
                    permission: "members.manage",
                    reason: "role".into(),
                },
                403,
                "forbidden",
                &["permission"],
            ),
            (
                Error::InsufficientScope("orgs:write"),
                403,
                "insufficient_scope",
                &["scope"],
            ),
            (Error::KeyRejected("key_revoked"), 401, "key_revoked", &[]),
            (Error::KeyInQuery, 400, "key_in_query", &[]),
            (
                Error::KeyRecentlyUsed {
                    last_used_at: "2026-01-01T00:00:00Z".into(),
                },
                409,
                "key_recently_used",
                &["last_used_at"],
            ),
            (Error::InvitationNotFound, 404, "invitation_not_found", &[]),
            (Error::InvitationExpired, 410, "invitation_expired", &[]),
            (Error::InvitationRevoked, 410, "invitation_revoked", &[]),
            (Error::InvitationUsed, 409, "invitation_used", &[]),
            (
                Error::EmailMismatch {
                    invited: "a***@x.example".into(),
                    signed_in: "b@x.example".into(),
                },
                403,
                "email_mismatch",
                &[],
            ),
            (Error::EmailUnverified, 403, "email_unverified", &[]),
            (Error::SsoManaged, 409, "sso_managed", &[]),
            (Error::TokenInvalid, 404, "token_invalid", &[]),
            (Error::NotOrgMember, 403, "not_org_member", &[]),
            (
                Error::FeatureDisabled("api_keys"),
                403,
                "feature_disabled",
                &["feature"],
            ),
            (Error::LastOwner, 409, "last_owner", &[]),
            (Error::NotFound, 404, "not_found", &[]),
            (
                Error::RateLimited {
                    retry_after_secs: 7,
                },
                429,
                "rate_limited",
                &[],
            ),
            (Error::Conflict("taken".into()), 409, "conflict", &[]),
            (Error::SetupTokenInvalid, 404, "setup_token_invalid", &[]),
            (Error::AccountDisabled, 403, "account_disabled", &[]),
            (
                Error::Sso {
                    code: "sso_provider_failed",
                    message: "down".into(),
                },
                502,
                "sso_provider_failed",
                &[],
            ),
            (
                Error::Sso {
                    code: "sso_state_invalid",
                    message: "stale".into(),
                },
                400,
                "sso_state_invalid",
                &[],
            ),
            (
                Error::MfaRequired {
                    challenge: crate::crypto::Secret::new("c".to_string()),
                    expires_in: 300,
                    methods: Methods {
                        totp: true,
                        passkey: false,
                    },
                },
                401,
                "mfa_required",
                &["challenge", "expires_in", "methods"],
            ),
            (
                Error::TwoStep {
                    code: "two_step_code_invalid",
                    message: "wrong".into(),
                },
                401,
                "two_step_code_invalid",
                &[],
            ),
            (
                Error::TwoStep {
                    code: "two_step_required",
                    message: "turn it on".into(),
                },
                403,
                "two_step_required",
                &[],
            ),
            (
                Error::BillingUnavailable { contact: None },
                503,
                "billing_unavailable",
                &["billing_contact_email"],
            ),
            (
                Error::SchemaTooNew {
                    found: 9,
                    supported: 8,
                },
                500,
                "internal",
                &[],
            ),
            (Error::Config("bad".into()), 500, "internal", &[]),
            (Error::Internal("secret cause".into()), 500, "internal", &[]),
        ]
    }

    #[test]
    fn every_variant_maps_to_a_status_code_and_its_members() {
        let mut seen = [false; VARIANTS];
        for (e, status, code, members) in table() {
            seen[variant(&e)] = true;
            let p = Problem::of(&e);
            assert_eq!((p.status, p.code), (status, code), "{e:?}");
            assert!(!p.title.is_empty() && !p.detail.is_empty(), "{e:?}");
            let keys: Vec<&str> = p.extensions.keys().map(String::as_str).collect();
            let mut want = members.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "{e:?}");
            let doc = p.document();
            assert_eq!(doc["code"], code);
            assert_eq!(doc["status"], status);
            assert_eq!(doc["type"], format!("https://tenantry.dev/problems/{code}"));
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|i| !seen[*i]).collect();
        assert!(missing.is_empty(), "variants without a sample: {missing:?}");
    }

    #[test]
    fn internal_causes_stay_out_of_the_answer() {
        let p = Problem::of(&Error::Internal("disk /var/secret full".into()));
        assert!(p.is_internal());
        assert!(!p.document().to_string().contains("secret"));
    }

    #[test]
    fn rate_limits_carry_retry_after_and_extra_members_replace() {
        let p = Problem::of(&Error::RateLimited {
            retry_after_secs: 7,
        });
        assert_eq!(p.retry_after, Some(7));
        let mut extra = Map::new();
        extra.insert("hint".into(), json!("wait"));
        let doc = p.with(extra).document();
        assert_eq!(doc["hint"], "wait");
        assert_eq!(doc["detail"], "too many attempts; try again in 7 seconds");
    }
}
