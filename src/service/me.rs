//! The personal scope: the signed-in user's profile, preferences and memberships.

use crate::domain::user::{validate_locale, validate_name, validate_timezone};
use crate::domain::{Preferences, Theme, User};
use crate::error::{Error, FieldError, Result};
use crate::service::authz::Principal;
use crate::service::now;
use crate::service::Context;

/// Re-reads the caller's user record.
pub fn get(app: &Context, p: &Principal) -> Result<User> {
    app.store
        .read(|c| c.user_by_id(&p.user()?.id))?
        .ok_or(Error::Unauthenticated)
}

/// Changes the display name.
pub fn update_name(app: &Context, p: &Principal, name: &str) -> Result<User> {
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
pub fn put_preferences(
    app: &Context,
    p: &Principal,
    input: PreferencesInput,
) -> Result<Preferences> {
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

/// One of the caller's active sessions (Security page).
#[derive(Debug, Clone)]
pub struct ActiveSession {
    /// True for the session making the request.
    pub current: bool,
    /// When it started (unix seconds).
    pub created_at: i64,
    /// Last use (unix seconds).
    pub last_seen_at: i64,
    /// When it ends at the latest (unix seconds).
    pub expires_at: i64,
}

/// The caller's sessions that can still be used (neither expired nor idle too long), the
/// current one marked. `current_token` is the caller's own session cookie value.
pub fn active_sessions(
    app: &Context,
    p: &Principal,
    current_token: &str,
) -> Result<Vec<ActiveSession>> {
    let now = now();
    let mine = app.keyring.token_hash(current_token);
    let rows = app.store.read(|c| c.user_sessions(&p.user()?.id, now))?;
    Ok(rows
        .into_iter()
        .filter(|r| r.last_seen_at + app.config.session_idle_secs > now)
        .map(|r| ActiveSession {
            current: r.token_hash[..] == mine[..],
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
        })
        .collect())
}

/// Signs the caller out everywhere but in the session making the request; returns how many
/// sessions ended. Only a signed-in person (not an API key) can do this.
pub fn sign_out_other_sessions(app: &Context, p: &Principal, current_token: &str) -> Result<usize> {
    let user = p.user()?.id.clone();
    let mine = app.keyring.token_hash(current_token);
    app.store.write(|tx| tx.delete_other_sessions(&user, &mine))
}

/// Why a settings section is not shown to the caller, decided by the same proofs and role
/// table as enforcement and `/me/access` (`authz::org_access`, `org_role_permits`, features).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    /// The organization does not exist or is not the caller's to see.
    NotFound,
    /// The caller belongs to these companies of the organization, not to the organization.
    CompanyOnly {
        /// Company names.
        companies: Vec<String>,
    },
    /// An instance administrator who is not a member of the organization.
    NotMember {
        /// Organization name.
        org: String,
    },
    /// The caller's role does not include the permission.
    Role {
        /// Organization name.
        org: String,
        /// The caller's role there.
        role: crate::domain::OrgRole,
    },
    /// The organization has the feature switched off.
    FeatureOff {
        /// Organization name.
        org: String,
        /// The feature.
        feature: crate::domain::Feature,
    },
    /// Nothing hides it: the caller may see it.
    Visible,
}

/// Explains whether the caller may see an organization section guarded by `perm`.
pub fn why_hidden(
    app: &Context,
    p: &Principal,
    org: &str,
    perm: crate::domain::Permission,
) -> Result<Hidden> {
    use crate::domain::{OrgId, Permission};
    use crate::service::authz;
    let access = match authz::org_access(app, p, org) {
        Ok(a) => a,
        Err(Error::NotOrgMember) => {
            let id = OrgId::parse(org).ok_or(Error::NotFound)?;
            let companies = app
                .store
                .read(|c| c.direct_companies_in_org(&id, &p.user()?.id))?;
            return Ok(Hidden::CompanyOnly { companies });
        }
        Err(Error::NotFound) => return Ok(Hidden::NotFound),
        Err(e) => return Err(e),
    };
    let org_name = access.org().name.clone();
    let Some(role) = access.role() else {
        return Ok(if access.explain(perm).0 {
            Hidden::Visible
        } else {
            Hidden::NotMember { org: org_name }
        });
    };
    if perm == Permission::BillingRead && authz::require_billing_read(app, &access).is_ok() {
        return Ok(Hidden::Visible);
    }
    if !authz::org_role_permits(role, perm) {
        return Ok(Hidden::Role {
            org: org_name,
            role,
        });
    }
    match perm.feature().filter(|f| !access.features().on(*f)) {
        Some(feature) => Ok(Hidden::FeatureOff {
            org: org_name,
            feature,
        }),
        None => Ok(Hidden::Visible),
    }
}
