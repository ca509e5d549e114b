//! The one mapping from domain errors to what the outside sees: [`Problem::of`] is a single
//! exhaustive match giving status, stable `code`, title, detail and extension members. The API
//! renders it as an RFC 9457 problem+json document; pages render the same value.

use serde_json::{json, Map, Value};

use super::response::Resp;
use crate::domain::apikey::{FormatError, Refusal};
use crate::domain::SsoFailure;
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
            Error::KeyRejected(r) => (
                401,
                r.code(),
                "API key refused",
                match r {
                    Refusal::Unknown => "this API key does not exist",
                    Refusal::Revoked => "this API key has been revoked",
                    Refusal::Expired => "this API key has expired",
                    Refusal::Disabled => "API keys are turned off for this organization",
                    Refusal::Format(FormatError::Empty) => {
                        "the Authorization header has no key after Bearer"
                    }
                    Refusal::Format(FormatError::WrongPrefix) => "tenantry API keys start with tnt_",
                    Refusal::Format(FormatError::Truncated) => {
                        "this API key is incomplete; copy the whole key"
                    }
                    Refusal::Format(FormatError::BadChecksum) => {
                        "this API key has a typo (its checksum does not match)"
                    }
                    Refusal::Format(FormatError::Malformed) => "this is not a tenantry API key",
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
                match code {
                    SsoFailure::ProviderFailed | SsoFailure::Misconfigured => 502,
                    SsoFailure::EmailUnverified
                    | SsoFailure::DomainMismatch
                    | SsoFailure::AdminNotLinked => 403,
                    SsoFailure::DomainVerificationFailed => 422,
                    SsoFailure::NotConfigured | SsoFailure::StateInvalid | SsoFailure::Required => {
                        400
                    }
                },
                code.code(),
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
mod tests;
