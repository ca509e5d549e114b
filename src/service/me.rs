//! The personal scope: the signed-in user's profile, preferences and memberships.

use crate::app::App;
use crate::domain::user::{validate_locale, validate_name, validate_timezone};
use crate::domain::{Preferences, Theme, User};
use crate::error::{Error, FieldError, Result};
use crate::service::authz::Principal;
use crate::service::now;

/// Re-reads the caller's user record.
pub fn get(app: &App, p: &Principal) -> Result<User> {
    app.store
        .read(|c| c.user_by_id(&p.user()?.id))?
        .ok_or(Error::Unauthenticated)
}

/// Changes the display name.
pub fn update_name(app: &App, p: &Principal, name: &str) -> Result<User> {
    let mut errs = Vec::new();
    let name = validate_name("name", name, &mut errs);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let now = now();
    app.store.write(|tx| {
        tx.update_user_name(&p.user()?.id, &name, now)?;
        tx.user_by_id(&p.user()?.id)?.ok_or(Error::Unauthenticated)
    })
}

/// Submitted preferences (all fields required for PUT).
#[derive(Debug)]
pub struct PreferencesInput {
    /// BCP 47 tag.
    pub locale: String,
    /// IANA zone.
    pub timezone: String,
    /// `system|light|dark`.
    pub theme: String,
}

/// Replaces the preferences after validating every field.
pub fn put_preferences(app: &App, p: &Principal, input: PreferencesInput) -> Result<Preferences> {
    let mut errs: Vec<FieldError> = Vec::new();
    validate_locale("locale", &input.locale, &mut errs);
    validate_timezone("timezone", &input.timezone, &mut errs);
    let theme = Theme::parse(&input.theme);
    if theme.is_none() {
        errs.push(FieldError::new(
            "theme",
            "must be one of system, light, dark",
        ));
    }
    let (Some(theme), true) = (theme, errs.is_empty()) else {
        return Err(Error::Validation(errs));
    };
    let prefs = Preferences {
        locale: input.locale,
        timezone: input.timezone,
        theme,
    };
    let now = now();
    app.store
        .write(|tx| tx.update_preferences(&p.user()?.id, &prefs, now))?;
    Ok(prefs)
}
