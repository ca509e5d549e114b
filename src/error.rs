//! The one domain error type. It names what went wrong in the product's terms; `http::problem`
//! maps each variant to a status and a stable `code` in a single exhaustive match.

use std::fmt;

/// A field-level validation error (`{field, message}` in a problem response).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The JSON field (dotted path for nested fields).
    pub field: String,
    /// A lowercase message that hints at the fix.
    pub message: String,
    /// The value is well-formed but conflicts with the current state (a taken slug, an
    /// address no account has, a wrong current password): not something the request's
    /// schema could have told the client. When every field error of a refusal is one, the
    /// answer is 409 `conflict` instead of 422 `validation_failed`.
    #[serde(skip)]
    pub conflict: bool,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            conflict: false,
        }
    }

    /// A field error for a well-formed value that conflicts with the current state.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            conflict: true,
            ..FieldError::new(field, message)
        }
    }
}

/// How the second step of a sign-in can be passed (the `methods` of `mfa_required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Methods {
    /// An authenticator app code, or a recovery code.
    pub totp: bool,
    /// A passkey.
    pub passkey: bool,
}

impl Methods {
    /// The names the API lists: `totp`, `recovery_code`, `passkey`.
    pub fn names(self) -> Vec<&'static str> {
        let mut m = Vec::new();
        if self.totp {
            m.extend(["totp", "recovery_code"]);
        }
        if self.passkey {
            m.push("passkey");
        }
        m
    }
}

/// Every failure a use case can report. The `detail` strings are safe to show to the caller;
/// internal causes are kept in `Internal` and only ever logged.
#[derive(Debug)]
pub enum Error {
    /// The request body is not valid JSON (or not the expected shape).
    InvalidJson(String),
    /// One or more fields are invalid.
    Validation(Vec<FieldError>),
    /// No valid session or API key.
    Unauthenticated,
    /// Wrong email or password (same answer for both, no enumeration).
    InvalidCredentials,
    /// The caller is authenticated but lacks a permission.
    Forbidden(String),
    /// The caller's role lacks a permission of the catalogue.
    PermissionDenied {
        /// The permission identifier, e.g. `members.manage`.
        permission: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// An API key lacks the scope (named) an operation needs.
    InsufficientScope(&'static str),
    /// A presented API key was refused; the code says why (`key_malformed`, `key_unknown`, …).
    KeyRejected(crate::domain::apikey::Refusal),
    /// An API key was passed in the query string.
    KeyInQuery,
    /// The key was used in the last 10 minutes; revoking needs `force`.
    KeyRecentlyUsed {
        /// When it was last used (RFC 3339).
        last_used_at: String,
    },
    /// No invitation has this token.
    InvitationNotFound,
    /// The invitation expired.
    InvitationExpired,
    /// The invitation was revoked (or replaced by a newer link).
    InvitationRevoked,
    /// The invitation was already accepted.
    InvitationUsed,
    /// The signed-in email differs from the invited one.
    EmailMismatch {
        /// The invited address, partly masked.
        invited: String,
        /// The signed-in address.
        signed_in: String,
    },
    /// The account's email address is not verified yet.
    EmailUnverified,
    /// The user signs in with SSO; their IT administrator manages the password.
    SsoManaged,
    /// A reset or verification token is unknown, used or expired.
    TokenInvalid,
    /// A company-only member called an organization route.
    NotOrgMember,
    /// The tenant feature is off for this organization.
    FeatureDisabled(&'static str),
    /// The change would leave the organization without an owner.
    LastOwner,
    /// The resource does not exist or is not the caller's to see.
    NotFound,
    /// Too many attempts; retry after this many seconds.
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// A uniqueness or state conflict.
    Conflict(String),
    /// The setup token is unknown or already used.
    SetupTokenInvalid,
    /// The user account is disabled.
    AccountDisabled,
    /// A single sign-on could not be started or finished; the code says why
    /// (`sso_not_configured`, `sso_state_invalid`, `sso_email_unverified`,
    /// `sso_domain_mismatch`, `sso_provider_failed`).
    Sso {
        /// Why (its stable code).
        code: crate::domain::SsoFailure,
        /// A sentence safe to show.
        message: String,
    },
    /// The password was right and the account has two-step sign-in: the sign-in continues
    /// with a code and this challenge (`POST /auth/login/two-step`).
    MfaRequired {
        /// The short-lived, single-use challenge token (redacted in `Debug`).
        challenge: crate::crypto::Secret,
        /// Seconds until it expires.
        expires_in: i64,
        /// How the second step can be passed: `totp`, `recovery_code`, `passkey`.
        methods: Methods,
    },
    /// A two-step sign-in step failed; the code says why (`two_step_code_invalid`,
    /// `two_step_challenge_invalid`, `two_step_not_enabled`, `two_step_already_enabled`,
    /// `two_step_not_started`, `two_step_required`, `sso_managed`), or a passkey step did
    /// (`passkey_invalid`, `passkey_ceremony_invalid`, `passkey_not_accepted`, `passkey_none`,
    /// `passkey_verification_required`, `passkeys_unavailable`).
    TwoStep {
        /// Stable code.
        code: &'static str,
        /// A sentence safe to show.
        message: String,
    },
    /// Billing data comes from a plugin that failed this time.
    BillingUnavailable {
        /// Who to contact about billing (from configuration).
        contact: Option<String>,
    },
    /// The database is newer than this binary.
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this binary knows.
        supported: i64,
    },
    /// Configuration is invalid (start-up only).
    Config(String),
    /// Something broke inside; the string is for the log, never for the caller.
    Internal(String),
}

impl Error {
    /// Shorthand for a single-field validation error.
    pub fn field(field: &str, message: &str) -> Error {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// Shorthand for one field whose well-formed value conflicts with the current state
    /// (409 `conflict` with `errors`; see [`FieldError::conflict`]).
    pub fn conflict_field(field: &str, message: &str) -> Error {
        Error::Validation(vec![FieldError::conflict(field, message)])
    }

    /// Shorthand for an internal error with a log detail.
    pub fn internal(detail: impl fmt::Display) -> Error {
        Error::Internal(detail.to_string())
    }
}

/// The text for logs and the command line. What a caller sees, in the API or on a page, is
/// decided once by the HTTP layer's problem mapping.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidJson(m) => write!(f, "invalid json: {m}"),
            Error::Validation(errs) => {
                write!(f, "validation failed:")?;
                for e in errs {
                    write!(f, " {}: {};", e.field, e.message)?;
                }
                Ok(())
            }
            Error::Unauthenticated => write!(f, "authentication required"),
            Error::InvalidCredentials => write!(f, "invalid email or password"),
            Error::Forbidden(m) => write!(f, "forbidden: {m}"),
            Error::PermissionDenied { permission, reason } => write!(f, "forbidden ({permission}): {reason}"),
            Error::NotOrgMember => write!(f, "not a member of this organization"),
            Error::InvitationNotFound => write!(f, "invitation not found"),
            Error::InvitationExpired => write!(f, "invitation expired"),
            Error::InvitationRevoked => write!(f, "invitation revoked"),
            Error::InvitationUsed => write!(f, "invitation already used"),
            Error::EmailMismatch { .. } => write!(f, "signed-in email differs from the invited one"),
            Error::EmailUnverified => write!(f, "email not verified"),
            Error::SsoManaged => write!(f, "password managed by SSO"),
            Error::TokenInvalid => write!(f, "token invalid, used or expired"),
            Error::InsufficientScope(s) => write!(f, "the API key lacks the `{s}` scope"),
            Error::KeyRejected(code) => write!(f, "API key refused: {code}"),
            Error::KeyInQuery => write!(f, "API key in the query string"),
            Error::KeyRecentlyUsed { last_used_at } => write!(f, "key used recently ({last_used_at})"),
            Error::FeatureDisabled(feat) => write!(f, "the `{feat}` feature is off for this organization"),
            Error::LastOwner => write!(f, "an organization must keep at least one owner"),
            Error::NotFound => write!(f, "not found"),
            Error::RateLimited { retry_after_secs } => {
                write!(f, "rate limited, retry after {retry_after_secs}s")
            }
            Error::Conflict(m) => write!(f, "conflict: {m}"),
            Error::SetupTokenInvalid => write!(f, "setup token is invalid or already used"),
            Error::AccountDisabled => write!(f, "account disabled"),
            Error::Sso { code, message } => write!(f, "single sign-on failed ({code}): {message}"),
            Error::MfaRequired { .. } => write!(f, "a second sign-in step is required"),
            Error::TwoStep { code, message } => write!(f, "two-step sign-in ({code}): {message}"),
            Error::BillingUnavailable { .. } => write!(f, "billing data is temporarily unavailable"),
            Error::SchemaTooNew { found, supported } => write!(
                f,
                "database schema version {found} is newer than this binary supports ({supported}); upgrade tenantry"
            ),
            Error::Config(m) => write!(f, "configuration error: {m}"),
            Error::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
