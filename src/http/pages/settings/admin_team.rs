//! Organization › Admin Team: members with their role and company access (change, remove),
//! **Add member** (an invitation email), and pending invitations with their delivery status
//! (resend, resend to another address, revoke). Every change goes through the service
//! functions the API uses; the pages only decide what to show.

use std::collections::HashMap;

use serde::Serialize;

use super::personal::role_label;
use super::{
    done, org_href, posted, render, sentence, when, Ctx, FieldView, FormView, LearnMore,
    OptionView, Page,
};
use crate::domain::{CompanyAccess, CompanyId, EmailStatus, OrgRole, Permission};
use crate::error::{Error, FieldError, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm, OrgAccess};
use crate::service::invitations::Listing;
use crate::service::two_step::MemberState;
use crate::service::two_step_policy::{self, Policy, PolicyInput, GRACE_MAX_DAYS};
use crate::service::Context;
use crate::service::{companies, invitations, members};

pub(super) const LEARN: LearnMore = LearnMore {
    href: "/settings/help/organization",
    label: "the admin team",
};

/// The submitted form: single values, plus every checked company.
pub(super) struct Posted {
    fields: HashMap<String, String>,
    companies: Vec<String>,
}

pub(super) fn parse_form(req: &Req) -> Posted {
    let mut fields = HashMap::new();
    let mut companies = Vec::new();
    for (k, v) in form_urlencoded::parse(&req.body) {
        if k == "company" {
            companies.push(v.into_owned());
        } else {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    Posted { fields, companies }
}

#[derive(Serialize, Clone)]
pub(super) struct CompanyCheck {
    id: String,
    name: String,
    checked: bool,
}

/// Role, company access and the companies to choose from (add and change forms).
#[derive(Serialize, Clone)]
pub(super) struct AccessFields {
    pub(super) roles: Vec<OptionView>,
    pub(super) role_error: Option<String>,
    pub(super) all: bool,
    /// False for a company-limited caller: the form then offers no "All companies" choice
    /// (a grant never exceeds the grantor; posting it anyway is refused beside the field).
    pub(super) can_grant_all: bool,
    pub(super) companies: Vec<CompanyCheck>,
    pub(super) companies_error: Option<String>,
}

#[derive(Serialize)]
struct AddForm {
    action: String,
    csrf_token: String,
    error: Option<String>,
    email: String,
    email_error: Option<String>,
    access: AccessFields,
}

#[derive(Serialize)]
struct InvitationRow {
    email: String,
    role: &'static str,
    companies: String,
    delivery: String,
    failed: bool,
    expires: String,
    resend_action: String,
    revoke_action: String,
    field_id: String,
}

#[derive(Serialize)]
struct MemberRow {
    name: String,
    email: String,
    role: &'static str,
    companies: String,
    change_href: Option<String>,
    you: bool,
    two_step: String,
}

/// The organization's two-step sign-in policy: what it is, and the owners' form.
#[derive(Serialize)]
struct PolicyView {
    status: String,
    form: Option<FormView>,
    error: Option<String>,
}

#[derive(Serialize)]
struct AdminTeamView {
    org: String,
    csrf_token: String,
    add: Option<AddForm>,
    invitations: Vec<InvitationRow>,
    members: Vec<MemberRow>,
    next_page: Option<String>,
    invitation_error: Option<String>,
    two_step_policy: PolicyView,
}

pub(super) fn team_path(org: &str) -> String {
    org_href(org, "admin_team")
}

/// The companies the caller reaches, by ID → name.
pub(super) fn company_names(app: &Context, access: &OrgAccess) -> Result<Vec<(CompanyId, String)>> {
    Ok(companies::list(app, &access.permit()?, None, 1000)?
        .data
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

fn describe(ca: &CompanyAccess, names: &[(CompanyId, String)]) -> String {
    match ca {
        CompanyAccess::All => "All companies".into(),
        CompanyAccess::List(ids) if ids.is_empty() => "No companies".into(),
        CompanyAccess::List(ids) => ids
            .iter()
            .map(|id| {
                names.iter().find(|(i, _)| i == id).map_or_else(
                    || "a company you do not reach".to_string(),
                    |(_, n)| n.clone(),
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The roles the caller may give (owner only with `owners.manage`).
fn grantable(access: &OrgAccess) -> Vec<OrgRole> {
    OrgRole::ALL
        .into_iter()
        .rev()
        .filter(|r| *r != OrgRole::Owner || access.explain(Permission::OwnersManage).0)
        .collect()
}

pub(super) fn access_fields(
    access: &OrgAccess,
    names: &[(CompanyId, String)],
    role: OrgRole,
    ca: &CompanyAccess,
) -> AccessFields {
    AccessFields {
        roles: grantable(access)
            .into_iter()
            .map(|r| OptionView {
                value: r.as_str().into(),
                label: role_label(r.as_str()).into(),
                selected: r == role,
            })
            .collect(),
        role_error: None,
        all: matches!(ca, CompanyAccess::All),
        can_grant_all: access.company_limit().is_none(),
        companies: names
            .iter()
            .map(|(id, name)| CompanyCheck {
                id: id.to_string(),
                name: name.clone(),
                checked: matches!(ca, CompanyAccess::List(ids) if ids.contains(id)),
            })
            .collect(),
        companies_error: None,
    }
}

/// The company access an empty form starts with: all companies, or none checked for a
/// company-limited caller (who cannot give access to all companies).
fn default_access(access: &OrgAccess) -> CompanyAccess {
    match access.company_limit() {
        Some(_) => CompanyAccess::List(Vec::new()),
        None => CompanyAccess::All,
    }
}

/// Role and company access from a posted form; a missing or unknown role is a field error.
pub(super) fn posted_access(p: &Posted) -> (Option<OrgRole>, CompanyAccess) {
    let role = p.fields.get("role").and_then(|r| OrgRole::parse(r));
    let ca = if p.fields.get("access").map(String::as_str) == Some("all") {
        CompanyAccess::All
    } else {
        CompanyAccess::List(
            p.companies
                .iter()
                .filter_map(|c| CompanyId::parse(c))
                .collect(),
        )
    };
    (role, ca)
}

/// A refusal or conflict as words for the person.
pub(super) fn words(e: Error, org: &str) -> Result<String> {
    Ok(match e {
        Error::Conflict(m) | Error::Forbidden(m) => sentence(&m),
        Error::LastOwner => {
            format!("{org} must keep at least one owner: make someone else an owner first.")
        }
        Error::PermissionDenied { .. } | Error::FeatureDisabled(_) => {
            "Your role does not let you do this. Ask an owner of the organization.".into()
        }
        other => return Err(other),
    })
}

fn view(app: &Context, c: &Ctx, access: &OrgAccess, req: &Req) -> Result<AdminTeamView> {
    let org = access.org_id().to_string();
    let names = company_names(app, access)?;
    let page = members::list(
        app,
        &access.permit()?,
        req.query_param("after").as_deref(),
        50,
    )?;
    let manage = access.explain(Permission::MembersManage).0;
    let me = c.session.principal.user_id().cloned();
    let ids: Vec<&str> = page.data.iter().map(|m| m.user_id.as_str()).collect();
    let states = crate::service::two_step::member_states(app, &ids)?;
    let policy = two_step_policy::get(app, &access.permit()?)?;
    let members = page
        .data
        .iter()
        .map(|m| MemberRow {
            two_step: two_step_cell(
                c,
                states
                    .get(m.user_id.as_str())
                    .map_or(MemberState::Off, |(s, _)| *s),
                &policy,
            ),
            name: m.name.clone(),
            email: m.email.clone(),
            role: role_label(m.role.as_str()),
            companies: describe(&m.company_access, &names),
            change_href: (manage && Some(&m.user_id) != me.as_ref())
                .then(|| format!("{}/members/{}", team_path(&org), m.user_id)),
            you: Some(&m.user_id) == me.as_ref(),
        })
        .collect();
    let next_page = page.next_cursor.map(|cur| {
        format!(
            "{}?after={}",
            team_path(&org),
            form_urlencoded::byte_serialize(cur.as_bytes()).collect::<String>()
        )
    });
    let (add, invitations) = if manage {
        let invs = invitations::list(app, &access.permit()?, Listing::Pending, None, 200)?;
        let rows = invs
            .data
            .into_iter()
            .map(|i| {
                let delivery = match &i.delivery {
                    None => "No email yet".to_string(),
                    Some(d) => match d.status {
                        EmailStatus::Queued | EmailStatus::Sending => "Email queued".to_string(),
                        EmailStatus::Sent => "Email sent".to_string(),
                        EmailStatus::Held => "Email held until it can be sent".to_string(),
                        EmailStatus::Failed => format!(
                            "Email failed: {}",
                            d.last_error
                                .clone()
                                .unwrap_or_else(|| "no reason given".into())
                        ),
                    },
                };
                InvitationRow {
                    failed: i
                        .delivery
                        .as_ref()
                        .is_some_and(|d| d.status == EmailStatus::Failed),
                    role: role_label(i.role.as_str()),
                    companies: i
                        .company_access
                        .as_ref()
                        .map(|ca| describe(ca, &names))
                        .unwrap_or_default(),
                    delivery,
                    expires: chrono::DateTime::parse_from_rfc3339(&i.expires_at)
                        .map(|t| when(&c.user, t.timestamp()))
                        .unwrap_or(i.expires_at.clone()),
                    resend_action: format!("{}/invitations/{}/resend", team_path(&org), i.id),
                    revoke_action: format!("{}/invitations/{}/revoke", team_path(&org), i.id),
                    field_id: i.id.clone(),
                    email: i.email,
                }
            })
            .collect();
        let add = AddForm {
            action: format!("{}/add", team_path(&org)),
            csrf_token: c.session.csrf_token.clone(),
            error: None,
            email: String::new(),
            email_error: None,
            access: access_fields(access, &names, OrgRole::Member, &default_access(access)),
        };
        (Some(add), rows)
    } else {
        (None, Vec::new())
    };
    Ok(AdminTeamView {
        org: access.org().name.clone(),
        csrf_token: c.session.csrf_token.clone(),
        add,
        invitations,
        members,
        next_page,
        invitation_error: None,
        two_step_policy: policy_view(c, access, &policy),
    })
}

/// The Two-step sign-in column: single sign-on users are exempt; for people without it,
/// the policy's deadline (still to come, or passed).
fn two_step_cell(c: &Ctx, state: MemberState, policy: &Policy) -> String {
    match (state, policy.deadline_at) {
        (MemberState::Sso, _) => "Exempt (single sign-on)".into(),
        (MemberState::Off, Some(d)) if policy.enforced => {
            format!(
                "Off (required since {}: no access until turned on)",
                when(&c.user, d)
            )
        }
        (MemberState::Off, Some(d)) => format!("Off (required by {})", when(&c.user, d)),
        (s, _) => s.label().into(),
    }
}

fn policy_action(org: &str) -> String {
    format!("{}/two-step-policy", team_path(org))
}

fn policy_view(c: &Ctx, access: &OrgAccess, policy: &Policy) -> PolicyView {
    let status = match policy.deadline_at {
        Some(d) if policy.enforced => format!(
            "Required: members who sign in with a password need two-step sign-in to use {} (enforced since {}).",
            access.org().name,
            when(&c.user, d)
        ),
        Some(d) => format!(
            "Required from {}: until then, members without two-step sign-in see a reminder with the deadline.",
            when(&c.user, d)
        ),
        None => "Not required: each member decides whether to use two-step sign-in.".into(),
    };
    let status = if policy.require_two_step {
        format!("{status} People who sign in with single sign-on are exempt: their identity provider decides.")
    } else {
        status
    };
    let form = access
        .explain(Permission::OwnersManage)
        .0
        .then(|| policy_form(c, access, policy.require_two_step, policy.grace_days));
    PolicyView {
        status,
        form,
        error: None,
    }
}

fn policy_form(c: &Ctx, access: &OrgAccess, require: bool, grace_days: i64) -> FormView {
    FormView::new(
        c,
        &policy_action(access.org_id().as_str()),
        "Save two-step sign-in policy",
        vec![
            FieldView::select(
                "require_two_step",
                "Two-step sign-in for members",
                if require { "on" } else { "off" },
                vec![
                    ("off".into(), "Not required".into()),
                    ("on".into(), "Required".into()),
                ],
            )
            .hint("Required: members who sign in with a password must turn on two-step sign-in in Personal > Security; after the grace period the organization's pages and API are closed to them until they do. People who sign in with single sign-on are exempt: their identity provider decides. API keys are not affected. You need two-step sign-in yourself to turn this on."),
            FieldView::input(
                "grace_days",
                "Grace period in days",
                "number",
                &grace_days.to_string(),
            )
            .hint(&format!("From 0 (enforced at once) to {GRACE_MAX_DAYS}. Counted from when the requirement is turned on; members are emailed when it is, and see the deadline on the organization's pages.")),
        ],
    )
}

fn notice(req: &Req) -> Option<&'static str> {
    match req.query_param("notice")?.as_str() {
        "invited" => {
            Some("Invitation sent. It is listed under pending invitations until it is accepted.")
        }
        "resent" => Some("Invitation sent again with a new link; the old link no longer works."),
        "revoked" => Some("Invitation revoked; its link no longer works."),
        "member_changed" => Some("The member's role and company access are saved."),
        "member_removed" => Some("The member is removed from the organization."),
        "two_step_policy_saved" => Some("The two-step sign-in policy is saved."),
        "two_step_reset" => Some(
            "Two-step sign-in is reset. The member signs in with their password until they set it up again; we emailed them.",
        ),
        _ => None,
    }
}

fn team_page(
    app: &Context,
    c: &Ctx,
    v: &AdminTeamView,
    n: Option<&str>,
    status: u16,
) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Admin Team",
            template: "settings/admin_team",
            data: v,
            notice: n,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/admin-team` (reached through the section dispatcher).
pub fn show(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let v = view(app, c, &access, req)?;
    team_page(app, c, &v, notice(req), 200)
}

/// `POST /settings/orgs/{org}/admin-team/add`: **Add member** sends an invitation.
pub fn add(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let p = parse_form(req);
    let email = p.fields.get("email").cloned().unwrap_or_default();
    let (role, ca) = posted_access(&p);
    let mut errs: Vec<FieldError> = Vec::new();
    let mut general = None;
    if let Err(m) = crate::domain::Email::parse(&email) {
        errs.push(FieldError::new("email", m));
    }
    if role.is_none() {
        errs.push(FieldError::new("role", "choose a role from the list"));
    }
    if matches!(&ca, CompanyAccess::List(ids) if ids.is_empty()) && role != Some(OrgRole::Owner) {
        errs.push(FieldError::new(
            "company_access",
            "choose all companies or at least one company",
        ));
    }
    if access.company_limit().is_some()
        && matches!(ca, CompanyAccess::All)
        && role != Some(OrgRole::Owner)
    {
        errs.push(FieldError::new(
            "company_access",
            "your own access is limited to some companies: check the companies to give access to",
        ));
    }
    if errs.is_empty() {
        match access.permit::<perm::MembersManage>().and_then(|permit| {
            invitations::invite_to_org(
                app,
                &permit,
                &email,
                role.unwrap_or(OrgRole::Member),
                ca.clone(),
            )
        }) {
            Ok(_) => return Ok(done(&team_path(access.org_id().as_str()), "invited")),
            Err(Error::Validation(e)) => errs = e,
            Err(e) => general = Some(words(e, &access.org().name)?),
        }
    }
    let mut v = view(app, &c, &access, req)?;
    if let Some(f) = v.add.as_mut() {
        f.email = email;
        let names = company_names(app, &access)?;
        f.access = access_fields(&access, &names, role.unwrap_or(OrgRole::Member), &ca);
        for e in &errs {
            let msg = sentence(&e.message);
            match e.field.as_str() {
                "email" => f.email_error = Some(msg),
                "role" => f.access.role_error = Some(msg),
                _ => f.access.companies_error = Some(msg),
            }
        }
        f.error = general.or_else(|| {
            (!errs.is_empty()).then(|| "Please correct the fields marked below.".into())
        });
    }
    team_page(app, &c, &v, None, 422)
}

/// `POST /settings/orgs/{org}/admin-team/invitations/{inv}/resend` (with `email` to send it
/// to another address).
pub fn resend(app: &Context, req: &Req) -> Result<Resp> {
    invitation_action(app, req, true)
}

/// `POST /settings/orgs/{org}/admin-team/invitations/{inv}/revoke`.
pub fn revoke(app: &Context, req: &Req) -> Result<Resp> {
    invitation_action(app, req, false)
}

fn invitation_action(app: &Context, req: &Req, resend: bool) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let form = req.form();
    let new_email = form
        .get("email")
        .map(|e| e.trim())
        .filter(|e| !e.is_empty());
    let result = if resend {
        invitations::manageable(app, &c.session.principal, req.param("inv"))
            .and_then(|m| invitations::resend(app, m, new_email))
            .map(|_| "resent")
    } else {
        invitations::manageable(app, &c.session.principal, req.param("inv"))
            .and_then(|m| invitations::revoke(app, m))
            .map(|_| "revoked")
    };
    let msg = match result {
        Ok(n) => return Ok(done(&team_path(access.org_id().as_str()), n)),
        Err(Error::Validation(errs)) => sentence(&format!(
            "the new address {}",
            errs.first().map_or("is not valid", |e| e.message.as_str())
        )),
        Err(e) => words(e, &access.org().name)?,
    };
    let mut v = view(app, &c, &access, req)?;
    v.invitation_error = Some(msg);
    team_page(app, &c, &v, None, 422)
}

/// `POST /settings/orgs/{org}/admin-team/two-step-policy` (owners): the two-step sign-in
/// policy.
pub fn save_two_step_policy(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let form = req.form();
    let require = form.get("require_two_step").map(String::as_str) == Some("on");
    let grace_text = form.get("grace_days").cloned().unwrap_or_default();
    let grace: Option<i64> = grace_text.trim().parse().ok();
    let mut errs: Vec<FieldError> = Vec::new();
    let mut general = None;
    match grace {
        None => errs.push(FieldError::new(
            "grace_days",
            format!("enter a whole number of days from 0 to {GRACE_MAX_DAYS}"),
        )),
        Some(grace_days) => match access.permit::<perm::OwnersManage>().and_then(|permit| {
            two_step_policy::put(
                app,
                &permit,
                PolicyInput {
                    require_two_step: require,
                    grace_days,
                },
            )
        }) {
            Ok(_) => {
                return Ok(done(
                    &team_path(access.org_id().as_str()),
                    "two_step_policy_saved",
                ))
            }
            Err(Error::Validation(e)) => errs = e,
            Err(Error::TwoStep { message, .. }) => general = Some(sentence(&message)),
            Err(e) => general = Some(words(e, &access.org().name)?),
        },
    }
    let mut v = view(app, &c, &access, req)?;
    if let Some(f) = v.two_step_policy.form.take() {
        let mut f = f.with_errors(&form, &errs);
        if general.is_some() {
            f.error = general;
        }
        v.two_step_policy.form = Some(f);
    } else {
        v.two_step_policy.error = general;
    }
    team_page(app, &c, &v, None, 422)
}
