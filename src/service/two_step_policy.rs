//! An organization's two-step sign-in policy: its owners may require two-step sign-in of the
//! people who use the organization, with a grace period.
//!
//! - Owners only change it (`owners.manage`: never admins, never API keys); every change is
//!   audited. Turning it on is refused while the owner has no two-step sign-in themselves
//!   (they would be the first locked out); an owner who signs in with single sign-on is
//!   exempt like everyone else who does, so they may turn it on.
//! - The deadline is the moment the policy was turned on plus the grace period (0–90 days);
//!   changing only the grace period keeps the moment, turning it off and on again restarts it.
//!   A grace period of 0 enforces it at once.
//! - It applies to a person who uses the organization (a member, or a direct member of one of
//!   its companies) with a password and has no two-step sign-in ([`two_step::is_enabled`]).
//!   Single sign-on users are exempt: their identity provider decides. Instance
//!   administrators are people like any other when they belong to the organization; their
//!   instance oversight of organizations they do not belong to is not the organization's to
//!   restrict. API keys are not people and are not subject to it.
//! - Enforcement is the HTTP layer's gate for the organization's routes
//!   (`http::two_step_gate`), from [`requirement`]: before the deadline a warning, after it a
//!   refusal (`two_step_required`) until the person turns two-step sign-in on.
//! - When it is turned on, everyone it applies to gets one email through the outbox.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::user::rfc3339;
use crate::domain::AuditAction;
use crate::domain::{Auth, OrgId, User};
use crate::error::{Error, FieldError, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{perm, Permit};
use crate::service::Context;
use crate::service::{mail, now, two_step};
use crate::store::PolicyRow;
use crate::views::email::Message;

/// The longest grace period, in days.
pub const GRACE_MAX_DAYS: i64 = 90;
const DAY: i64 = 86_400;

/// The policy as the API and pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    /// Members must have two-step sign-in.
    pub require_two_step: bool,
    /// Days between turning it on and enforcing it.
    pub grace_days: i64,
    /// When it was turned on (RFC 3339), while it is on.
    pub enabled_at: Option<String>,
    /// From when it is enforced (RFC 3339), while it is on.
    pub deadline: Option<String>,
    /// True once the deadline has passed.
    pub enforced: bool,
    /// The deadline as unix seconds (for pages, in the person's time zone).
    #[serde(skip)]
    pub deadline_at: Option<i64>,
}

impl Policy {
    fn of(row: PolicyRow, now: i64) -> Policy {
        let deadline_at = deadline(&row);
        Policy {
            require_two_step: row.require_two_step,
            grace_days: row.grace_days,
            enabled_at: row.enabled_at.filter(|_| row.require_two_step).map(rfc3339),
            deadline: deadline_at.map(rfc3339),
            enforced: deadline_at.is_some_and(|d| now >= d),
            deadline_at,
        }
    }
}

fn deadline(row: &PolicyRow) -> Option<i64> {
    match (row.require_two_step, row.enabled_at) {
        (true, Some(at)) => Some(at + row.grace_days * DAY),
        _ => None,
    }
}

/// The submitted policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// Require two-step sign-in.
    pub require_two_step: bool,
    /// Grace period in days (0–90).
    pub grace_days: i64,
}

/// Reads the policy (everyone who may read the organization).
pub fn get(app: &Context, permit: &Permit<'_, perm::OrgRead>) -> Result<Policy> {
    let row = app.store.read(|c| c.two_step_policy(permit.org_id()))?;
    Ok(Policy::of(row, now()))
}

/// The policy of an organization the caller already reached (pages).
pub fn of_org(app: &Context, org: &OrgId) -> Result<Policy> {
    let row = app.store.read(|c| c.two_step_policy(org))?;
    Ok(Policy::of(row, now()))
}

fn lock_out_error() -> Error {
    Error::TwoStep {
        code: "two_step_not_enabled",
        message: "turn on two-step sign-in for your own account first (Personal > Security): requiring it of the organization without having it would lock you out of it".into(),
    }
}

/// Replaces the policy (owners). Turning it on needs the owner's own two-step sign-in (or
/// single sign-on); it emails everyone it newly applies to.
pub fn put(
    app: &Context,
    permit: &Permit<'_, perm::OwnersManage>,
    input: PolicyInput,
) -> Result<Policy> {
    if !(0..=GRACE_MAX_DAYS).contains(&input.grace_days) {
        return Err(Error::Validation(vec![FieldError::new(
            "grace_days",
            "must be a whole number of days from 0 (enforced at once) to 90",
        )]));
    }
    let org = permit.org_id().clone();
    let owner = permit.principal().user()?.clone();
    let current = app.store.read(|c| c.two_step_policy(&org))?;
    let turning_on = input.require_two_step && !current.require_two_step;
    if turning_on && owner.auth != Auth::Sso && !two_step::is_enabled(app, &owner.id)? {
        return Err(lock_out_error());
    }
    // Whom the new policy applies to, decided before the write (two-step sign-in may count
    // more than one factor; `is_enabled` is the one answer).
    let mut to_email = Vec::new();
    if turning_on {
        let people = app.store.read(|c| c.two_step_policy_people(&org))?;
        for (id, email, name) in people {
            if !two_step::is_enabled(app, &id)? {
                to_email.push((email, name));
            }
        }
    }
    let now = now();
    let org_name = permit.access().org().name.clone();
    let (policy, emailed) = app.store.write(|tx| {
        // Decided against what is stored now (another owner may have changed it meanwhile).
        let stored = tx.two_step_policy(&org)?;
        let newly_on = input.require_two_step && !stored.require_two_step;
        let row = PolicyRow {
            require_two_step: input.require_two_step,
            grace_days: input.grace_days,
            enabled_at: match (input.require_two_step, stored.enabled_at) {
                (false, _) => None,
                (true, Some(at)) if !newly_on => Some(at),
                (true, _) => Some(now),
            },
        };
        let policy = Policy::of(row, now);
        tx.put_two_step_policy(&org, &row, now)?;
        audit::record(
            tx,
            &org,
            &Actor::of(permit.principal()),
            AuditAction::OrgTwoStepPolicyUpdated,
            ("organization", org.as_str()),
            json!({"require_two_step": policy.require_two_step, "grace_days": policy.grace_days,
                   "deadline": policy.deadline}),
        )?;
        let deadline = policy.deadline_at.and_then(|d| {
            chrono::DateTime::from_timestamp(d, 0).map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        });
        let recipients: &[(String, String)] = if newly_on { &to_email } else { &[] };
        for (email, name) in recipients {
            mail::queue(
                app,
                tx,
                email,
                &Message::TwoStepRequired {
                    name,
                    org: &org_name,
                    deadline: deadline.as_deref(),
                    link: &format!("{}/settings/personal/security", app.public_url),
                },
                None,
            )?;
        }
        Ok((policy, !recipients.is_empty()))
    })?;
    if emailed {
        app.doorbell.ring();
    }
    log::info!(
        "two-step sign-in policy of {org} set to {} (grace {} days)",
        if policy.require_two_step {
            "required"
        } else {
            "off"
        },
        policy.grace_days
    );
    Ok(policy)
}

/// An organization's policy that applies to one person.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// The organization.
    pub org_id: OrgId,
    /// Its name.
    pub org_name: String,
    /// From when it is enforced (unix seconds).
    pub deadline: i64,
}

impl Requirement {
    /// True once the deadline has passed: the organization is closed to the person.
    pub fn overdue(&self) -> bool {
        now() >= self.deadline
    }

    /// The deadline as RFC 3339.
    pub fn deadline_rfc3339(&self) -> String {
        rfc3339(self.deadline)
    }
}

/// Whether any policy can apply to this person at all: not when they sign in with single
/// sign-on (their identity provider decides) or already have two-step sign-in.
fn subject_to_policies(app: &Context, user: &User) -> Result<bool> {
    Ok(user.auth != Auth::Sso && !two_step::is_enabled(app, &user.id)?)
}

/// The policy (on) of the organization a request is scoped by.
#[derive(Debug, Clone)]
pub struct ScopedPolicy {
    org_id: OrgId,
    org_name: String,
    row: PolicyRow,
}

/// Where a request is scoped: the untrusted ID from its path.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// An organization ID.
    Org(&'a str),
    /// A company ID (its organization's policy).
    Company(&'a str),
    /// An invitation ID (its organization's policy).
    Invitation(&'a str),
}

/// The policy of the organization a request is scoped by, when it is on; `None` for a
/// policy that is off and for a malformed or unknown ID (the handler answers those). One
/// indexed read: the common case (no policy) costs nothing more.
pub fn scoped(app: &Context, scope: Scope<'_>) -> Result<Option<ScopedPolicy>> {
    let found = match scope {
        Scope::Org(id) => match OrgId::parse(id) {
            Some(id) => app.store.read(|c| c.two_step_policy_on(&id))?,
            None => None,
        },
        Scope::Company(id) => app.store.read(|c| c.two_step_policy_of_company(id))?,
        Scope::Invitation(id) => app.store.read(|c| c.two_step_policy_of_invitation(id))?,
    };
    Ok(found.map(|(org_id, org_name, row)| ScopedPolicy {
        org_id,
        org_name,
        row,
    }))
}

/// Whether that policy applies to this person: they belong to the organization, sign in
/// with a password and have no two-step sign-in.
pub fn requirement(
    app: &Context,
    user: &User,
    policy: &ScopedPolicy,
) -> Result<Option<Requirement>> {
    let Some(deadline) = deadline(&policy.row) else {
        return Ok(None);
    };
    if !subject_to_policies(app, user)? {
        return Ok(None);
    }
    // Only people who belong to the organization: to anyone else its routes answer as they
    // always do (a policy must not reveal that a foreign organization exists).
    if !app
        .store
        .read(|c| c.reaches_org(&policy.org_id, &user.id))?
    {
        return Ok(None);
    }
    Ok(Some(Requirement {
        org_id: policy.org_id.clone(),
        org_name: policy.org_name.clone(),
        deadline,
    }))
}

/// Every policy that applies to this person, by organization name (the Security page).
pub fn requirements_of(app: &Context, user: &User) -> Result<Vec<Requirement>> {
    if !subject_to_policies(app, user)? {
        return Ok(Vec::new());
    }
    let rows = app.store.read(|c| c.two_step_policies_of(&user.id))?;
    Ok(rows
        .into_iter()
        .filter_map(|(org_id, org_name, row)| {
            deadline(&row).map(|deadline| Requirement {
                org_id,
                org_name,
                deadline,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_is_the_moment_turned_on_plus_the_grace_period() {
        let on = PolicyRow {
            require_two_step: true,
            grace_days: 7,
            enabled_at: Some(1_000),
        };
        assert_eq!(deadline(&on), Some(1_000 + 7 * DAY));
        let p = Policy::of(on, 1_000 + 7 * DAY - 1);
        assert!(!p.enforced);
        assert!(Policy::of(on, 1_000 + 7 * DAY).enforced);
        let now_on = PolicyRow {
            grace_days: 0,
            ..on
        };
        assert!(Policy::of(now_on, 1_000).enforced, "grace 0 is at once");
        let off = PolicyRow {
            require_two_step: false,
            ..on
        };
        assert_eq!(deadline(&off), None);
        let p = Policy::of(off, 2_000);
        assert!(!p.enforced && p.deadline.is_none() && p.enabled_at.is_none());
    }
}
