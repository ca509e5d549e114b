//! Organization › Admin Team › one member: change the role and company access, or remove
//! the member (confirmed). Through `service::members`.

use serde::Serialize;

use super::admin_team::{
    access_fields, company_names, parse_form, posted_access, team_path, words, AccessFields, LEARN,
};
use super::{done, posted, render, sentence, Ctx, Page};
use crate::domain::OrgRole;
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{org_access, perm, OrgAccess};
use crate::service::members;
use crate::service::two_step::{self, MemberState};
use crate::service::Context;

#[derive(Serialize)]
struct MemberView {
    org: String,
    name: String,
    email: String,
    action: String,
    remove_action: String,
    remove_question: String,
    csrf_token: String,
    error: Option<String>,
    access: AccessFields,
    back: String,
    two_step: &'static str,
    reset_two_step_action: Option<String>,
}

fn member_view(app: &Context, c: &Ctx, access: &OrgAccess, user: &str) -> Result<MemberView> {
    // The member list is the one place that names members; find the one asked for there.
    let mut cursor: Option<String> = None;
    let m = loop {
        let page = members::list(app, &access.permit()?, cursor.as_deref(), 200)?;
        if let Some(m) = page.data.into_iter().find(|m| m.user_id.as_str() == user) {
            break m;
        }
        match page.next_cursor {
            Some(n) => cursor = Some(n),
            None => return Err(Error::NotFound),
        }
    };
    let names = company_names(app, access)?;
    let base = team_path(access.org_id().as_str());
    let (state, resettable) = two_step::member_states(app, &[user])?
        .remove(user)
        .unwrap_or((MemberState::Off, false));
    // The same rule the service enforces: owners only, for members below owner who are not
    // instance administrators, never oneself.
    let may_reset = access.permit::<perm::OwnersManage>().is_ok()
        && m.role != OrgRole::Owner
        && resettable
        && state == MemberState::On
        && c.session.principal.user_id() != Some(&m.user_id);
    Ok(MemberView {
        two_step: state.label(),
        reset_two_step_action: may_reset.then(|| format!("{base}/members/{user}/two-step/reset")),
        org: access.org().name.clone(),
        action: format!("{base}/members/{user}"),
        remove_action: format!("{base}/members/{user}/remove"),
        remove_question: format!("Remove {} from {}?", m.name, access.org().name),
        csrf_token: c.session.csrf_token.clone(),
        error: None,
        access: access_fields(access, &names, m.role, &m.company_access),
        name: m.name,
        email: m.email,
        back: base,
    })
}

fn member_page(app: &Context, c: &Ctx, v: &MemberView, status: u16) -> Result<Resp> {
    render(
        app,
        c,
        Page {
            title: "Change member",
            template: "settings/member",
            data: v,
            notice: None,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/orgs/{org}/admin-team/members/{user}`: change role and company access, or
/// remove.
pub fn member(app: &Context, req: &Req) -> Result<Resp> {
    let c = super::signed_in!(app, req);
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    access.permit::<perm::MembersManage>()?;
    let v = member_view(app, &c, &access, req.param("user"))?;
    member_page(app, &c, &v, 200)
}

/// `POST /settings/orgs/{org}/admin-team/members/{user}`.
pub fn change_member(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let user = req.param("user");
    let p = parse_form(req);
    let (role, ca) = posted_access(&p);
    let mut v = member_view(app, &c, &access, user)?;
    let err = match role {
        None => {
            v.access.role_error = Some("Choose a role from the list.".into());
            None
        }
        Some(r) => match access
            .permit::<perm::MembersManage>()
            .and_then(|permit| members::update(app, &permit, user, Some(r), Some(ca.clone())))
        {
            Ok(_) => return Ok(done(&team_path(access.org_id().as_str()), "member_changed")),
            Err(Error::Validation(errs)) => {
                v.access.companies_error = errs.first().map(|e| sentence(&e.message));
                None
            }
            Err(e) => Some(words(e, &access.org().name)?),
        },
    };
    let names = company_names(app, &access)?;
    let keep = access_fields(&access, &names, role.unwrap_or(OrgRole::Member), &ca);
    v.access.roles = keep.roles;
    v.access.all = keep.all;
    v.access.companies = keep.companies;
    v.error = err.or_else(|| Some("Please correct the fields marked below.".into()));
    member_page(app, &c, &v, 422)
}

/// `POST /settings/orgs/{org}/admin-team/members/{user}/remove` (the page asks first).
pub fn remove_member(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let user = req.param("user");
    match members::remove(app, &access, user) {
        Ok(()) => Ok(done(&team_path(access.org_id().as_str()), "member_removed")),
        Err(e) => {
            let msg = words(e, &access.org().name)?;
            let mut v = member_view(app, &c, &access, user)?;
            v.error = Some(msg);
            member_page(app, &c, &v, 409)
        }
    }
}

/// `POST /settings/orgs/{org}/admin-team/members/{user}/two-step/reset` (owners; the page asks
/// first).
pub fn reset_two_step(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let access = org_access(app, &c.session.principal, req.param("org"))?;
    let user = req.param("user");
    match access
        .permit::<perm::OwnersManage>()
        .and_then(|permit| two_step::reset_by_owner(app, &permit, user))
    {
        Ok(()) => Ok(done(&team_path(access.org_id().as_str()), "two_step_reset")),
        Err(e @ (Error::Forbidden(_) | Error::PermissionDenied { .. })) => {
            let msg = match e {
                Error::Forbidden(m) => sentence(&m),
                _ => "Only an owner of the organization can reset someone's two-step sign-in."
                    .to_string(),
            };
            let mut v = member_view(app, &c, &access, user)?;
            v.error = Some(msg);
            member_page(app, &c, &v, 403)
        }
        Err(e) => Err(e),
    }
}
