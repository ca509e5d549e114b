//! The one mapping from domain errors to RFC 9457 problem responses. The match is exhaustive:
//! a new error variant does not compile until it has a status and a stable `code`.

use serde_json::json;

use super::response::Resp;
use crate::domain::apikey::{FormatError, Refusal};
use crate::domain::SsoFailure;
use crate::error::Error;

/// Status, stable machine code and safe title for an error.
pub fn classify(e: &Error) -> (u16, &'static str, &'static str) {
    match e {
        Error::InvalidJson(_) => (400, "invalid_json", "Request body is not valid JSON"),
        Error::Validation(errs) if is_conflict(errs) => {
            (409, "conflict", "Conflicts with the current state")
        }
        Error::Validation(_) => (422, "validation_failed", "Some fields are invalid"),
        Error::Unauthenticated => (401, "unauthenticated", "Authentication required"),
        Error::InvalidCredentials => (401, "invalid_credentials", "Invalid email or password"),
        Error::Forbidden(_) => (403, "forbidden", "Forbidden"),
        Error::PermissionDenied { .. } => (403, "forbidden", "Forbidden"),
        Error::NotOrgMember => (403, "not_org_member", "Not a member of this organization"),
        Error::InvitationNotFound => (404, "invitation_not_found", "Invitation not found"),
        Error::InvitationExpired => (410, "invitation_expired", "Invitation expired"),
        Error::InvitationRevoked => (410, "invitation_revoked", "Invitation no longer valid"),
        Error::InvitationUsed => (409, "invitation_used", "Invitation already used"),
        Error::EmailMismatch { .. } => (403, "email_mismatch", "Signed in with another email"),
        Error::EmailUnverified => (403, "email_unverified", "Email not verified"),
        Error::SsoManaged => (409, "sso_managed", "Password managed by SSO"),
        Error::TokenInvalid => (404, "token_invalid", "Link invalid or expired"),
        Error::InsufficientScope(_) => (403, "insufficient_scope", "Insufficient scope"),
        Error::KeyRejected(r) => (401, r.code(), "API key refused"),
        Error::KeyInQuery => (400, "key_in_query", "API key in the query string"),
        Error::KeyRecentlyUsed { .. } => (409, "key_recently_used", "Key in use"),
        Error::FeatureDisabled(_) => (403, "feature_disabled", "Feature disabled"),
        Error::LastOwner => (409, "last_owner", "Last owner"),
        Error::NotFound => (404, "not_found", "Not found"),
        Error::RateLimited { .. } => (429, "rate_limited", "Too many attempts"),
        Error::Conflict(_) => (409, "conflict", "Conflict"),
        Error::SetupTokenInvalid => (
            404,
            "setup_token_invalid",
            "Setup link is invalid or already used",
        ),
        Error::AccountDisabled => (403, "account_disabled", "Account disabled"),
        Error::Sso { code, .. } => (
            match code {
                SsoFailure::ProviderFailed | SsoFailure::Misconfigured => 502,
                SsoFailure::EmailUnverified
                | SsoFailure::DomainMismatch
                | SsoFailure::AdminNotLinked => 403,
                SsoFailure::DomainVerificationFailed => 422,
                SsoFailure::NotConfigured | SsoFailure::StateInvalid | SsoFailure::Required => 400,
            },
            code.code(),
            "Single sign-on failed",
        ),
        Error::MfaRequired { .. } => (401, "mfa_required", "Second sign-in step required"),
        Error::TwoStep { code, .. } => (
            match *code {
                "two_step_code_invalid" | "two_step_challenge_invalid" => 401,
                "passkey_not_accepted" => 401,
                "passkey_invalid" | "passkey_ceremony_invalid" => 400,
                "two_step_required" | "passkey_verification_required" => 403,
                _ => 409,
            },
            code,
            "Two-step sign-in",
        ),
        Error::BillingUnavailable { .. } => (
            503,
            "billing_unavailable",
            "Billing data temporarily unavailable",
        ),
        Error::SchemaTooNew { .. } | Error::Config(_) | Error::Internal(_) => {
            (500, "internal", "Internal server error")
        }
    }
}

/// Whether every field error of a refusal is a conflict with the current state (then the
/// request was well-formed: 409, not 422).
fn is_conflict(errs: &[crate::error::FieldError]) -> bool {
    !errs.is_empty() && errs.iter().all(|e| e.conflict)
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
    from_error_with(e, serde_json::Map::new())
}

/// Like [`from_error`], with extra members in the problem document (e.g. the organization
/// and deadline of `two_step_required`).
pub fn from_error_with(e: &Error, extra: serde_json::Map<String, serde_json::Value>) -> Resp {
    let (status, code, title) = classify(e);
    let detail = match e {
        Error::SchemaTooNew { .. } | Error::Config(_) | Error::Internal(_) => {
            log::error!("{e}");
            "something went wrong on the server; it has been logged".to_string()
        }
        Error::InvalidJson(m) => format!("invalid json: {m}"),
        Error::Validation(errs) if is_conflict(errs) => {
            "well-formed, but conflicts with the current state; see errors".to_string()
        }
        Error::Validation(_) => "one or more fields are invalid; see errors".to_string(),
        Error::Unauthenticated => "sign in or send a valid API key".to_string(),
        Error::InvalidCredentials => "the email or password is wrong".to_string(),
        Error::Forbidden(m) | Error::Conflict(m) => m.clone(),
        Error::PermissionDenied { reason, .. } => reason.clone(),
        Error::InsufficientScope(s) => format!("this API key needs the `{s}` scope"),
        Error::KeyRejected(r) => match r {
            Refusal::Unknown => "this API key does not exist".to_string(),
            Refusal::Revoked => "this API key has been revoked".to_string(),
            Refusal::Expired => "this API key has expired".to_string(),
            Refusal::Disabled => "API keys are turned off for this organization".to_string(),
            Refusal::Format(FormatError::Empty) => "the Authorization header has no key after Bearer".to_string(),
            Refusal::Format(FormatError::WrongPrefix) => "tenantry API keys start with tnt_".to_string(),
            Refusal::Format(FormatError::Truncated) => "this API key is incomplete; copy the whole key".to_string(),
            Refusal::Format(FormatError::BadChecksum) => "this API key has a typo (its checksum does not match)".to_string(),
            Refusal::Format(FormatError::Malformed) => "this is not a tenantry API key".to_string(),
        },
        Error::KeyInQuery => {
            "never put an API key in a URL; send it as Authorization: Bearer <key>".to_string()
        }
        Error::KeyRecentlyUsed { last_used_at } => format!(
            "this key was used at {last_used_at}, less than 10 minutes ago; move its traffic first or pass force=true"
        ),
        Error::InvitationNotFound => "this invitation link is not valid; check that you copied the whole link".to_string(),
        Error::InvitationExpired => "this invitation has expired; ask the person who invited you to resend it".to_string(),
        Error::InvitationRevoked => {
            "this invitation link is no longer valid; it was revoked or replaced by a newer one".to_string()
        }
        Error::InvitationUsed => "this invitation has already been accepted".to_string(),
        Error::EmailMismatch { invited, signed_in } => format!(
            "this invitation is for {invited}, but you are signed in as {signed_in}; sign out, or ask the person who invited you to resend it to your address"
        ),
        Error::EmailUnverified => "confirm your email address first, then accept the invitation".to_string(),
        Error::SsoManaged => "you sign in with SSO; your IT administrator manages your password".to_string(),
        Error::TokenInvalid => "this link is invalid, was already used, or has expired; ask for a new one".to_string(),
        Error::NotOrgMember => {
            "you are a member of companies in this organization, not of the organization itself; ask an organization admin to add you".to_string()
        }
        Error::FeatureDisabled(feat) => {
            format!("the `{feat}` feature is off for this organization; an instance administrator can turn it on")
        }
        Error::LastOwner => {
            "an organization must keep at least one owner; make someone else owner first".to_string()
        }
        Error::NotFound => "no such resource".to_string(),
        Error::RateLimited { retry_after_secs } => {
            format!("too many attempts; try again in {retry_after_secs} seconds")
        }
        Error::SetupTokenInvalid => "the setup link is invalid or has already been used".to_string(),
        Error::AccountDisabled => "this account is disabled".to_string(),
        Error::Sso { message, .. } | Error::TwoStep { message, .. } => message.clone(),
        Error::MfaRequired { .. } => {
            "the password is right; finish signing in with this challenge: a code from your authenticator app (or a recovery code) at POST /api/v1/auth/login/two-step, or a passkey through POST /api/v1/auth/login/two-step/passkey/options and POST /api/v1/auth/login/two-step/passkey (`methods` lists what this account has)".to_string()
        }
        Error::BillingUnavailable { contact } => billing_unavailable_text(contact.as_deref()),
    };
    let mut body = json!({
        "type": format!("https://tenantry.dev/problems/{code}"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    });
    if let Error::PermissionDenied { permission, .. } = e {
        body["permission"] = json!(permission);
    }
    if let Error::InsufficientScope(s) = e {
        body["scope"] = json!(s);
    }
    if let Error::KeyRecentlyUsed { last_used_at } = e {
        body["last_used_at"] = json!(last_used_at);
    }
    if let Error::FeatureDisabled(feat) = e {
        body["feature"] = json!(feat);
    }
    if let Error::BillingUnavailable { contact } = e {
        body["billing_contact_email"] = json!(contact);
    }
    if let Error::MfaRequired {
        challenge,
        expires_in,
        methods,
    } = e
    {
        body["challenge"] = json!(challenge.expose());
        body["expires_in"] = json!(expires_in);
        body["methods"] = json!(methods.names());
    }
    if let Error::Validation(errs) = e {
        body["errors"] = serde_json::to_value(errs).unwrap_or_default();
    }
    for (k, v) in extra {
        body[k] = v;
    }
    let mut resp = problem_body(status, &body);
    if let Error::RateLimited { retry_after_secs } = e {
        resp = resp.header("Retry-After", retry_after_secs.to_string());
    }
    resp
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
