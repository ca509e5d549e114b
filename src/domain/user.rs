//! Users and their personal preferences, with the validation rules for each field.

use serde::Serialize;

use super::{Email, UserId};
use crate::error::FieldError;

/// How a user signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// Email + password.
    Password,
    /// Single sign-on through a plugin; no password here.
    Sso,
}

impl Auth {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Password => "password",
            Auth::Sso => "sso",
        }
    }
    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Auth> {
        match s {
            "password" => Some(Auth::Password),
            "sso" => Some(Auth::Sso),
            _ => None,
        }
    }
}

/// UI theme preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the operating system.
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

impl Theme {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }
    /// Parses the stored or submitted form.
    pub fn parse(s: &str) -> Option<Theme> {
        match s {
            "system" => Some(Theme::System),
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            _ => None,
        }
    }
}

/// Personal preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preferences {
    /// BCP 47 language tag, e.g. `en` or `pt-BR`.
    pub locale: String,
    /// IANA time zone name.
    pub timezone: String,
    /// UI theme.
    pub theme: Theme,
}

/// A person with an account.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    /// `usr_…`
    pub id: UserId,
    /// Normalised email.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Sign-in method.
    pub auth: Auth,
    /// SSO provider (plugin name) for SSO users.
    pub sso_provider: Option<String>,
    /// Whether the email address has been verified.
    pub email_verified: bool,
    /// Instance administrator flag.
    pub is_instance_admin: bool,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// Preferences.
    pub preferences: Preferences,
    /// Creation time (RFC 3339 in responses).
    #[serde(serialize_with = "crate::domain::user::ser_time")]
    pub created_at: i64,
}

/// Serialises a unix timestamp as RFC 3339 UTC.
pub fn ser_time<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// Formats a unix timestamp as RFC 3339 UTC (`2026-01-02T03:04:05Z`).
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// Maximum length of a display name, in characters.
pub const NAME_MAX: usize = 200;
/// Minimum password length (characters), per current NIST/OWASP guidance.
pub const PASSWORD_MIN: usize = 10;
/// Maximum password length (bytes), to bound hashing cost.
pub const PASSWORD_MAX: usize = 1024;

/// Validates a display name; returns the trimmed name.
pub fn validate_name(field: &str, raw: &str, errs: &mut Vec<FieldError>) -> String {
    let name = raw.trim();
    if name.is_empty() {
        errs.push(FieldError::new(field, "must not be empty"));
    } else if name.chars().count() > NAME_MAX {
        errs.push(FieldError::new(
            field,
            format!("must be at most {NAME_MAX} characters"),
        ));
    } else if name.chars().any(|c| c.is_control()) {
        errs.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    name.to_string()
}

/// Validates a new password.
pub fn validate_password(field: &str, pw: &str, errs: &mut Vec<FieldError>) {
    if pw.chars().count() < PASSWORD_MIN {
        errs.push(FieldError::new(
            field,
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    } else if pw.len() > PASSWORD_MAX {
        errs.push(FieldError::new(
            field,
            format!("must be at most {PASSWORD_MAX} bytes"),
        ));
    }
}

/// Validates an IANA time zone name against the bundled tz database.
pub fn validate_timezone(field: &str, tz: &str, errs: &mut Vec<FieldError>) {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        errs.push(FieldError::new(
            field,
            "must be an IANA time zone name such as Europe/Paris or UTC",
        ));
    }
}

/// Validates a BCP 47 language tag (shape only: `ll`, `lll`, `ll-RR`, `ll-Script-RR`, …).
pub fn validate_locale(field: &str, locale: &str, errs: &mut Vec<FieldError>) {
    let mut parts = locale.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|p| (2..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !lang_ok || !rest_ok || locale.len() > 35 {
        errs.push(FieldError::new(
            field,
            "must be a BCP 47 language tag such as en or pt-BR",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_validation() {
        let mut e = vec![];
        validate_timezone("tz", "Europe/Paris", &mut e);
        validate_timezone("tz", "UTC", &mut e);
        assert!(e.is_empty());
        validate_timezone("tz", "Mars/Olympus", &mut e);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn locale_validation() {
        let mut e = vec![];
        for ok in ["en", "pt-BR", "zh-Hant-TW", "fil"] {
            validate_locale("l", ok, &mut e);
        }
        assert!(e.is_empty(), "{e:?}");
        for bad in ["", "EN", "e", "en_US", "en-", "english"] {
            validate_locale("l", bad, &mut e);
        }
        assert_eq!(e.len(), 6);
    }
}
