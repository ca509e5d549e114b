//! Email-bound invitations: to the organization (role + company access) or to one company
//! (company role). One pending invitation per address and target; inviters need the rights
//! they grant; the token is 256-bit, stored hashed, valid `invitations.ttl_hours`. Resend
//! issues a new token (the old link dies) and resets the expiry; re-addressing does the same
//! for a new address in one step. Acceptance needs the signed-in, verified address to equal
//! the invited one, and creates the membership and consumes the invitation in one
//! transaction.

use serde::Serialize;
use serde_json::json;

use crate::crypto::{new_token, Secret};
use crate::domain::user::rfc3339;
use crate::domain::AuditAction;
use crate::domain::{
    CompanyAccess, CompanyRole, Email, EmailStatus, InvitationState, InvitationStatus, OrgRole,
    ScopedRole, User,
};
use crate::error::{Error, Result};
use crate::service::audit::{self, Actor};
use crate::service::authz::{
    company_access, grant_ceiling, inviter_now, org_access, perm, CompanyPermit, Grant, Granted,
    Permit, Principal, Subject,
};
use crate::service::members::{check_access, org_grant};
use crate::service::Context;
use crate::service::{mail, now, page_of, Page};
use crate::store::{InvitationRow, Tx};
use crate::views::email::Message;

/// Delivery state of the latest invitation email.
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// `queued` | `sending` | `sent` | `failed` | `held`.
    pub status: EmailStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// Last error (e.g. a permanent SMTP refusal).
    pub last_error: Option<String>,
}

/// An invitation as its organization's admins see it (never the token).
#[derive(Debug, Serialize)]
pub struct InvitationView {
    /// `inv_…`
    pub id: String,
    /// Organization.
    pub org: String,
    /// Company, for a company invitation.
    pub company: Option<String>,
    /// Invited address.
    pub email: String,
    /// Role to grant.
    pub role: ScopedRole,
    /// Company access (organization invitations).
    pub company_access: Option<CompanyAccess>,
    /// Who invited.
    pub inviter: serde_json::Value,
    /// `pending` | `accepted` | `revoked` | `expired`.
    pub status: InvitationState,
    /// Created.
    pub created_at: String,
    /// Expiry.
    pub expires_at: String,
    /// Delivery of the latest email.
    pub delivery: Option<Delivery>,
}

/// The derived status (`expired` is pending past its expiry).
pub fn status_of(i: &InvitationRow, now: i64) -> InvitationState {
    InvitationState::of(i.status, i.expires_at, now)
}

fn view(app: &Context, i: &InvitationRow) -> Result<InvitationView> {
    let delivery = app
        .store
        .read(|c| c.invitation_email(&i.id))?
        .map(|m| Delivery {
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
        });
    Ok(InvitationView {
        id: i.id.clone(),
        org: i.org_id.to_string(),
        company: i.company_id.as_ref().map(|c| c.to_string()),
        email: i.email.clone(),
        role: i.role,
        company_access: i.company_id.is_none().then(|| access_of(i)),
        inviter: json!({"id": i.inviter_id, "name": i.inviter_name}),
        status: status_of(i, now()),
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
        delivery,
    })
}

fn access_of(i: &InvitationRow) -> CompanyAccess {
    if i.all_companies {
        CompanyAccess::All
    } else {
        CompanyAccess::List(i.company_ids.clone())
    }
}

/// An invitation event's details with what the invitation grants (`company`,
/// `company_access`), so the audit log shows each event only to readers who reach those
/// companies — resends, re-addresses, revocations and acceptances like the creation.
fn scoped(inv: &InvitationRow, mut details: serde_json::Value) -> serde_json::Value {
    details["company"] = json!(inv.company_id);
    details["company_access"] = json!(access_of(inv));
    details
}

/// Inviter: user ID, name shown to the invitee, and the key when a key invites.
type Inviter = (Option<crate::domain::UserId>, String, Option<String>);

fn inviter_of(p: &Principal, org_name: &str) -> Inviter {
    match &p.subject {
        Subject::User(u) => (Some(u.id.clone()), u.name.clone(), None),
        Subject::ApiKey(k) => (
            None,
            format!("{org_name} (API key)"),
            Some(k.key_id.to_string()),
        ),
    }
}

/// The grant an invitation carries.
fn grant_of(i: &InvitationRow) -> Result<Grant> {
    // The store reads the role of a company invitation as a company role and of an
    // organization invitation as an organization role; anything else is a broken row.
    Ok(match (&i.company_id, i.role) {
        (None, ScopedRole::Org(role)) => org_grant(&i.org_id, role, access_of(i)),
        (Some(c), ScopedRole::Company(role)) => Grant::Company {
            company: c.clone(),
            role,
        },
        _ => return Err(Error::internal("invitation role does not match its scope")),
    })
}

/// Masks an address for display to someone else: `a***e@example.com`.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let chars: Vec<char> = local.chars().collect();
    let masked = match chars.len() {
        0 => String::new(),
        1 | 2 => format!("{}***", chars[0]),
        n => format!("{}***{}", chars[0], chars[n - 1]),
    };
    format!("{masked}@{domain}")
}

fn describe_access(app: &Context, i: &InvitationRow) -> Result<String> {
    if i.company_id.is_some() {
        return Ok(String::new());
    }
    if i.all_companies {
        return Ok("all companies".into());
    }
    let names = app.store.read(|c| {
        let mut v = Vec::new();
        for id in &i.company_ids {
            if let Some(co) = c.company(id)? {
                v.push(co.name);
            }
        }
        Ok(v)
    })?;
    Ok(if names.is_empty() {
        "no companies yet".into()
    } else {
        names.join(", ")
    })
}

fn target_name(app: &Context, i: &InvitationRow) -> Result<String> {
    app.store.read(|c| {
        Ok(match &i.company_id {
            Some(cmp) => c.company(cmp)?.map(|x| x.name).unwrap_or_default(),
            None => c.org(&i.org_id)?.map(|o| o.name).unwrap_or_default(),
        })
    })
}

/// Queues the invitation email carrying `token` (in `tx`).
fn send(
    app: &Context,
    tx: &Tx<'_>,
    inv: &InvitationRow,
    token: &Secret,
    access_text: &str,
    target: &str,
) -> Result<()> {
    let link = format!("{}/invite/{}", app.public_url, token.expose());
    mail::queue(
        app,
        tx,
        &inv.email,
        &Message::Invitation {
            inviter_name: &inv.inviter_name,
            target_name: target,
            role: inv.role.as_str(),
            access: access_text,
            link: &link,
            email: &inv.email,
            expires: &rfc3339(inv.expires_at),
        },
        Some(&inv.id),
    )?;
    Ok(())
}

fn ttl(app: &Context) -> i64 {
    app.config.invitation_ttl_hours as i64 * 3600
}

fn is_member(tx: &Tx<'_>, inv: &InvitationRow) -> Result<bool> {
    let Some(user) = tx.user_by_email(&Email::from_trusted(inv.email.clone()))? else {
        return Ok(false);
    };
    Ok(match &inv.company_id {
        None => tx.membership(&inv.org_id, &user.id)?.is_some(),
        Some(c) => tx.direct_company_role(c, &user.id)?.is_some(),
    })
}

/// Row, outbox message and audit event in one transaction; writes what `granted` says.
fn create(
    app: &Context,
    p: &Principal,
    mut inv: InvitationRow,
    granted: Granted,
) -> Result<InvitationView> {
    let target = target_name(app, &inv)?;
    let access_text = describe_access(app, &inv)?;
    let token = new_token();
    app.store.write(|tx| {
        if is_member(tx, &inv)? {
            return Err(Error::Conflict("this person is already a member".into()));
        }
        if tx.pending_invitation(&inv.org_id, inv.company_id.as_ref(), &inv.email)?.is_some() {
            return Err(Error::Conflict(
                "a pending invitation for this address exists; resend it instead".into(),
            ));
        }
        match granted.grant() {
            Grant::Org {
                org,
                role,
                company_access,
            } => {
                let ca = check_access(tx, org, *role, company_access.clone())?;
                inv.role = ScopedRole::Org(*role);
                inv.all_companies = matches!(ca, CompanyAccess::All);
                inv.company_ids = match ca {
                    CompanyAccess::All => Vec::new(),
                    CompanyAccess::List(ids) => ids,
                };
            }
            Grant::Company { company, role } => {
                inv.company_id = Some(company.clone());
                inv.role = ScopedRole::Company(*role);
            }
            Grant::KeyScopes { .. } => {
                return Err(Error::internal("an invitation grants a membership"))
            }
        }
        tx.insert_invitation(&inv, &app.keyring.token_hash(token.expose()))?;
        send(app, tx, &inv, &token, &access_text, &target)?;
        audit::record(
            tx,
            &inv.org_id,
            &Actor::of(p),
            AuditAction::InvitationCreated,
            ("invitation", &inv.id),
            json!({"email": inv.email, "role": inv.role, "company": inv.company_id, "company_access": access_of(&inv)}),
        )
    })?;
    app.doorbell.ring();
    view(app, &inv)
}

/// A new pending invitation row (its token is set when it is stored).
fn pending_row(
    app: &Context,
    org: &crate::domain::OrgId,
    company: Option<&crate::domain::CompanyId>,
    email: &Email,
    role: ScopedRole,
    access: CompanyAccess,
    (inviter_id, inviter_name, inviter_key_id): Inviter,
) -> InvitationRow {
    let now = now();
    InvitationRow {
        id: crate::crypto::new_id("inv"),
        org_id: org.clone(),
        company_id: company.cloned(),
        email: email.to_string(),
        role,
        all_companies: matches!(access, CompanyAccess::All),
        company_ids: match access {
            CompanyAccess::All => Vec::new(),
            CompanyAccess::List(ids) => ids,
        },
        inviter_id,
        inviter_name,
        status: InvitationStatus::Pending,
        created_at: now,
        expires_at: now + ttl(app),
        accepted_at: None,
        revoked_at: None,
        inviter_key_id,
    }
}

/// Invites an address to the organization, within the caller's grant ceiling.
pub fn invite_to_org(
    app: &Context,
    permit: &Permit<'_, perm::MembersManage>,
    email: &str,
    role: OrgRole,
    ca: CompanyAccess,
) -> Result<InvitationView> {
    let access = permit.access();
    let granted = grant_ceiling(
        app,
        access.principal(),
        org_grant(permit.org_id(), role, ca),
    )?;
    let Grant::Org { company_access, .. } = granted.grant() else {
        return Err(Error::internal("an organization grant was expected"));
    };
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let inv = pending_row(
        app,
        permit.org_id(),
        None,
        &email,
        ScopedRole::Org(role),
        company_access.clone(),
        inviter_of(access.principal(), &access.org().name),
    );
    create(app, access.principal(), inv, granted)
}

/// Invites an address to one company, within the caller's grant ceiling.
pub fn invite_to_company(
    app: &Context,
    permit: &CompanyPermit<'_, perm::CompanyMembersManage>,
    email: &str,
    role: CompanyRole,
) -> Result<InvitationView> {
    let ctx = permit.ctx();
    let granted = grant_ceiling(
        app,
        ctx.principal(),
        Grant::Company {
            company: ctx.company_id().clone(),
            role,
        },
    )?;
    let email = Email::parse(email).map_err(|m| Error::field("email", m))?;
    let inv = pending_row(
        app,
        ctx.org_id(),
        Some(ctx.company_id()),
        &email,
        ScopedRole::Company(role),
        CompanyAccess::List(Vec::new()),
        inviter_of(ctx.principal(), &ctx.company().name),
    );
    create(app, ctx.principal(), inv, granted)
}

/// Whether a company-limited caller may see an invitation: company invitations to their
/// companies, organization invitations whose company list is within theirs.
fn visible_to(limit: Option<&[crate::domain::CompanyId]>, i: &InvitationRow) -> bool {
    let Some(mine) = limit else {
        return true;
    };
    match &i.company_id {
        Some(c) => mine.contains(c),
        None => !i.all_companies && i.company_ids.iter().all(|c| mine.contains(c)),
    }
}

/// Which invitations a listing shows (`?status=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `pending`: stored as pending, including those past their expiry (shown as `expired`).
    Pending,
    /// `all`: whatever their status.
    All,
}

impl Listing {
    /// Parses the query form.
    pub fn parse(s: &str) -> Option<Listing> {
        match s {
            "pending" => Some(Listing::Pending),
            "all" => Some(Listing::All),
            _ => None,
        }
    }
}

/// Lists the organization's invitations. A company-limited admin sees only the invitations
/// within their companies.
pub fn list(
    app: &Context,
    permit: &Permit<'_, perm::MembersManage>,
    which: Listing,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<InvitationView>> {
    let pending_only = match which {
        Listing::Pending => true,
        Listing::All => false,
    };
    let confine = permit.access().company_limit();
    let mut rows = Vec::new();
    let mut after = cursor.unwrap_or("").to_string();
    // Filtering can thin a batch out; read on until the page is full or the list ends.
    loop {
        let batch = app
            .store
            .read(|c| c.list_invitations(permit.org_id(), pending_only, &after, limit + 1))?;
        let done = batch.len() <= limit;
        if let Some(last) = batch.last() {
            after = last.id.clone();
        }
        rows.extend(batch.into_iter().filter(|i| visible_to(confine, i)));
        if done || rows.len() > limit {
            break;
        }
    }
    let page = page_of(rows, limit, |i| i.id.clone());
    let mut data = Vec::with_capacity(page.data.len());
    for i in &page.data {
        data.push(view(app, i)?);
    }
    Ok(Page {
        data,
        next_cursor: page.next_cursor,
    })
}

/// Proof that the caller may manage one invitation (resend, re-address, revoke).
#[derive(Debug)]
pub struct Manageable<'a> {
    inv: InvitationRow,
    principal: &'a Principal,
}

/// Loads an invitation the caller may manage (404 otherwise, as for any foreign resource).
/// Managing it — resend, re-address, revoke — needs the grant ceiling to cover what it grants.
pub fn manageable<'a>(app: &Context, p: &'a Principal, id: &str) -> Result<Manageable<'a>> {
    if !id.starts_with("inv_") {
        return Err(Error::NotFound);
    }
    let inv = app
        .store
        .read(|c| c.invitation(id))?
        .ok_or(Error::NotFound)?;
    match &inv.company_id {
        None => {
            let access = match org_access(app, p, inv.org_id.as_str()) {
                Err(Error::NotOrgMember) => return Err(Error::NotFound),
                other => other?,
            };
            access.permit::<perm::MembersManage>()?;
            if !visible_to(access.company_limit(), &inv) {
                return Err(Error::NotFound);
            }
        }
        Some(cmp) => {
            company_access(app, p, cmp.as_str())?.permit::<perm::CompanyMembersManage>()?;
        }
    }
    grant_ceiling(app, p, grant_of(&inv)?)?;
    Ok(Manageable { inv, principal: p })
}

/// Resends with a new token (old link dead, expiry reset), optionally to a new address.
pub fn resend(app: &Context, m: Manageable<'_>, new_email: Option<&str>) -> Result<InvitationView> {
    let (mut inv, p) = (m.inv, m.principal);
    if inv.status != InvitationStatus::Pending {
        return Err(Error::Conflict(format!(
            "this invitation is {}; create a new one instead",
            inv.status.as_str()
        )));
    }
    let old_email = inv.email.clone();
    if let Some(e) = new_email {
        inv.email = Email::parse(e)
            .map_err(|m| Error::field("email", m))?
            .to_string();
    }
    inv.expires_at = now() + ttl(app);
    let access_text = describe_access(app, &inv)?;
    let target = target_name(app, &inv)?;
    // The resender's authority (just checked) now carries the invitation: acceptance checks
    // them, not the original inviter.
    (inv.inviter_id, inv.inviter_name, inv.inviter_key_id) = inviter_of(p, &target);
    app.store.write(|tx| {
        if inv.email != old_email {
            if tx
                .pending_invitation(&inv.org_id, inv.company_id.as_ref(), &inv.email)?
                .is_some()
            {
                return Err(Error::Conflict(
                    "a pending invitation for that address exists already".into(),
                ));
            }
            if is_member(tx, &inv)? {
                return Err(Error::Conflict("that person is already a member".into()));
            }
        }
        tx.cancel_invitation_emails(&inv.id)?;
        let token = new_token();
        send(app, tx, &inv, &token, &access_text, &target)?;
        tx.reissue_invitation(
            &inv.id,
            &inv.email,
            &app.keyring.token_hash(token.expose()),
            inv.expires_at,
        )?;
        tx.set_invitation_inviter(&inv)?;
        let (action, details) = if inv.email != old_email {
            (
                AuditAction::InvitationReaddressed,
                scoped(&inv, json!({"from": old_email, "to": inv.email})),
            )
        } else {
            (
                AuditAction::InvitationResent,
                scoped(&inv, json!({"email": inv.email})),
            )
        };
        audit::record(
            tx,
            &inv.org_id,
            &Actor::of(p),
            action,
            ("invitation", &inv.id),
            details,
        )
    })?;
    app.doorbell.ring();
    view(app, &inv)
}

/// Revokes a pending invitation.
pub fn revoke(app: &Context, m: Manageable<'_>) -> Result<()> {
    let (inv, p) = (m.inv, m.principal);
    let now = now();
    app.store.write(|tx| {
        if !tx.revoke_invitation(&inv.id, now)? {
            return Err(Error::Conflict(format!(
                "this invitation is {}",
                inv.status.as_str()
            )));
        }
        tx.cancel_invitation_emails(&inv.id)?;
        audit::record(
            tx,
            &inv.org_id,
            &Actor::of(p),
            AuditAction::InvitationRevoked,
            ("invitation", &inv.id),
            scoped(&inv, json!({"email": inv.email})),
        )
    })
}

/// What a token points at, for the pages.
#[derive(Debug)]
pub struct Lookup {
    /// The invitation.
    pub invitation: InvitationRow,
    /// Organization or company name.
    pub target_name: String,
    /// Human description of the company access.
    pub access_text: String,
}

/// Resolves a token; the error says why it cannot be used. A pending invitation whose
/// inviter's authority no longer covers its grant is revoked here (`invitation_revoked`).
pub fn lookup(app: &Context, token: &str) -> Result<Lookup> {
    if token.len() != crate::crypto::TOKEN_LEN {
        return Err(Error::InvitationNotFound);
    }
    let hash = app.keyring.token_hash(token);
    let inv = app.store.read(|c| match c.invitation_by_token(&hash)? {
        Some(inv) => Ok(inv),
        None if c.invitation_token_retired(&hash)? => Err(Error::InvitationRevoked),
        None => Err(Error::InvitationNotFound),
    })?;
    match status_of(&inv, now()) {
        InvitationState::Accepted => return Err(Error::InvitationUsed),
        InvitationState::Revoked => return Err(Error::InvitationRevoked),
        InvitationState::Expired => return Err(Error::InvitationExpired),
        InvitationState::Pending => {}
    }
    inviter_still_grants(app, &inv)?;
    Ok(Lookup {
        target_name: target_name(app, &inv)?,
        access_text: describe_access(app, &inv)?,
        invitation: inv,
    })
}

/// The grant of an invitation as it would be applied now: companies deleted since it was
/// sent are dropped from an organization invitation's list.
fn grant_now(app: &Context, inv: &InvitationRow) -> Result<Grant> {
    let mut grant = grant_of(inv)?;
    if let Grant::Org {
        org,
        company_access: CompanyAccess::List(ids),
        ..
    } = &mut grant
    {
        let mut kept = Vec::new();
        for id in ids.drain(..) {
            if app
                .store
                .read(|c| c.company(&id))?
                .is_some_and(|co| co.org == *org)
            {
                kept.push(id);
            }
        }
        *ids = kept;
    }
    Ok(grant)
}

/// The grant ceiling again, with the inviter as they stand now: demoted, limited, removed or
/// disabled inviters (and revoked or expired inviting keys) no longer grant anything. Such an
/// invitation is marked revoked (and audited) and the answer is `invitation_revoked`.
fn inviter_still_grants(app: &Context, inv: &InvitationRow) -> Result<Granted> {
    let inviter = inviter_now(
        app,
        inv.inviter_id.as_ref(),
        inv.inviter_key_id.as_deref(),
        "",
    )?;
    let refusal = match inviter {
        None => "the inviter can no longer grant access".to_string(),
        Some(p) => match grant_ceiling(app, &p, grant_now(app, inv)?) {
            Ok(g) => return Ok(g),
            Err(e @ (Error::Forbidden(_) | Error::PermissionDenied { .. })) => e.to_string(),
            Err(Error::InsufficientScope(s)) => format!("the inviting key lacks `{s}`"),
            Err(Error::FeatureDisabled(f)) => format!("the `{f}` feature is off"),
            Err(e) => return Err(e),
        },
    };
    let now = now();
    app.store.write(|tx| {
        if tx.revoke_invitation(&inv.id, now)? {
            tx.cancel_invitation_emails(&inv.id)?;
            audit::record(
                tx,
                &inv.org_id,
                &Actor::operator(),
                AuditAction::InvitationRevoked,
                ("invitation", &inv.id),
                scoped(
                    inv,
                    json!({"email": inv.email, "reason": "inviter_authority", "detail": refusal}),
                ),
            )?;
        }
        Ok(())
    })?;
    log::info!("invitation {} revoked: {refusal}", inv.id);
    Err(Error::InvitationRevoked)
}

/// Accepts an invitation as the signed-in user, atomically.
pub fn accept(app: &Context, p: &Principal, token: &str) -> Result<InvitationView> {
    if let Err(secs) = app.limits.invite.check(&p.client_ip) {
        return Err(Error::RateLimited {
            retry_after_secs: secs,
        });
    }
    let user: &User = p.user()?;
    let found = lookup(app, token);
    if matches!(found, Err(Error::InvitationNotFound)) {
        app.limits.invite.failure(&p.client_ip);
    }
    let inv = found?.invitation;
    if inv.email != user.email.as_str() {
        return Err(Error::EmailMismatch {
            invited: mask_email(&inv.email),
            signed_in: user.email.to_string(),
        });
    }
    if !user.email_verified {
        return Err(Error::EmailUnverified);
    }
    let granted = inviter_still_grants(app, &inv)?;
    let now = now();
    app.store.write(|tx| {
        if !tx.accept_invitation(&inv.id, &user.id, now)? {
            return Err(Error::InvitationUsed);
        }
        match granted.grant() {
            Grant::Org {
                org,
                role,
                company_access,
            } => {
                if tx.membership(org, &user.id)?.is_none() {
                    let access = check_access(tx, org, *role, company_access.clone())?;
                    tx.upsert_org_member(org, &user.id, *role, &access, now)?;
                }
            }
            Grant::Company { company, role } => {
                let current = tx.direct_company_role(company, &user.id)?;
                if current.is_none_or(|c| c < *role) {
                    tx.upsert_company_member(&inv.org_id, company, &user.id, *role, now)?;
                }
            }
            Grant::KeyScopes { .. } => {
                return Err(Error::internal("an invitation grants a membership"))
            }
        }
        audit::record(
            tx,
            &inv.org_id,
            &Actor::of(p),
            AuditAction::InvitationAccepted,
            ("invitation", &inv.id),
            scoped(&inv, json!({"user": user.id, "role": inv.role})),
        )
    })?;
    let inv = app
        .store
        .read(|c| c.invitation(&inv.id))?
        .ok_or(Error::NotFound)?;
    view(app, &inv)
}

/// Creates the account for exactly the invited address (verified by the invitation) and
/// signs it in; the caller then accepts.
pub fn sign_up(app: &Context, token: &str, name: &str, password: &Secret) -> Result<User> {
    let l = lookup(app, token)?;
    let email = Email::from_trusted(l.invitation.email.clone());
    let mut errs = Vec::new();
    let name = crate::domain::user::validate_name("name", name, &mut errs);
    crate::domain::user::validate_password("password", password.expose(), &mut errs);
    if !errs.is_empty() {
        return Err(Error::Validation(errs));
    }
    let phc = app.hasher.hash(password)?;
    let user = crate::service::setup::new_password_user(
        email,
        name,
        crate::service::setup::NewUserFlags::VERIFIED,
    );
    app.store.write(|tx| {
        if tx.user_by_email(&user.email)?.is_some() {
            return Err(Error::Conflict(
                "an account with this address exists; sign in instead".into(),
            ));
        }
        tx.insert_user(crate::store::NewUser {
            user: &user,
            password_hash: Some(&phc),
        })
    })?;
    log::info!("user {} created from an invitation", user.id);
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(mask_email("alice@example.com"), "a***e@example.com");
        assert_eq!(mask_email("al@example.com"), "a***@example.com");
        assert_eq!(mask_email("a@example.com"), "a***@example.com");
    }
}
