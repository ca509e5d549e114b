//! Company › Members: everyone who reaches the company, with their role and whether it comes
//! through the organization or a direct assignment; company admins add existing users, change
//! the role of direct members and remove them (confirmed). Through `service::companies`.

use serde::Serialize;

use super::company::{notice, page};
use super::personal::role_label;
use super::{company_href, done, posted, sentence, Ctx, FieldView, FormView};
use crate::domain::entities::Via;
use crate::domain::{CompanyRole, Permission};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::authz::{self, company_access, perm, CompanyCtx};
use crate::service::Context;
use crate::service::{companies, invitations};

#[derive(Serialize)]
struct MemberRow {
    user: String,
    name: String,
    email: String,
    role: &'static str,
    via: &'static str,
    direct: bool,
    roles: Vec<super::OptionView>,
    role_action: String,
    remove_action: String,
    remove_question: String,
}

#[derive(Serialize)]
struct MembersView {
    company: String,
    csrf_token: String,
    manage: bool,
    members: Vec<MemberRow>,
    add: Option<FormView>,
    error: Option<String>,
    next_page: Option<String>,
}

fn role_options() -> Vec<(String, String)> {
    [CompanyRole::Admin, CompanyRole::Member, CompanyRole::Viewer]
        .into_iter()
        .map(|r| (r.as_str().to_string(), role_label(r.as_str()).to_string()))
        .collect()
}

fn members_view(app: &Context, c: &Ctx, ctx: &CompanyCtx, req: &Req) -> Result<MembersView> {
    let cmp = ctx.company_id().to_string();
    let base = company_href(&cmp, "members");
    let manage = ctx.allows(Permission::CompanyMembersManage);
    let list = companies::list_members(
        app,
        &ctx.member_list_permit()?,
        req.query_param("after").as_deref(),
        50,
    )?;
    Ok(MembersView {
        company: ctx.company().name.clone(),
        csrf_token: c.session.csrf_token.clone(),
        manage,
        members: list
            .data
            .iter()
            .map(|m| {
                let direct = m.direct_role.unwrap_or(m.role);
                MemberRow {
                    user: m.user_id.to_string(),
                    name: m.name.clone(),
                    email: m.email.clone(),
                    role: role_label(m.role.as_str()),
                    via: match m.via {
                        Via::Organization => "Through the organization",
                        Via::Direct => "Added directly",
                    },
                    direct: m.direct_role.is_some(),
                    roles: role_options()
                        .into_iter()
                        .map(|(v, l)| super::OptionView {
                            selected: v == direct.as_str(),
                            value: v,
                            label: l,
                        })
                        .collect(),
                    role_action: format!("{base}/{}/role", m.user_id),
                    remove_action: format!("{base}/{}/remove", m.user_id),
                    remove_question: format!("Remove {} from {}?", m.name, ctx.company().name),
                }
            })
            .collect(),
        add: manage.then(|| {
            FormView::new(
                c,
                &format!("{base}/add"),
                "Add member",
                vec![
                    FieldView::input("email", "Email address", "email", ""),
                    FieldView::select("role", "Role", "member", role_options()),
                ],
            )
        }),
        error: None,
        next_page: list.next_cursor.map(|cur| {
            format!(
                "{base}?after={}",
                form_urlencoded::byte_serialize(cur.as_bytes()).collect::<String>()
            )
        }),
    })
}

/// `GET /settings/companies/{cmp}/members` (through the section dispatcher).
pub fn members_page(app: &Context, c: &Ctx, req: &Req) -> Result<Resp> {
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let v = members_view(app, c, &ctx, req)?;
    page(
        app,
        c,
        "Members",
        "settings/company_members",
        &v,
        notice(req),
        200,
    )
}

fn words(e: Error) -> Result<String> {
    Ok(match e {
        Error::Conflict(m) | Error::Forbidden(m) => sentence(&m),
        Error::PermissionDenied { .. } => {
            "Your role does not let you do this. Ask a company admin.".into()
        }
        other => return Err(other),
    })
}

/// `POST /settings/companies/{cmp}/members/add`: invites an address with a role (instance
/// administrators add an existing account directly).
pub fn add_member(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let f = req.form();
    let email = f.get("email").cloned().unwrap_or_default();
    let role = f.get("role").cloned().unwrap_or_default();
    // Adding by email invites the person (they accept, or not); only instance
    // administrators add an existing account directly.
    let added = match authz::instance_admin(&c.session.principal) {
        Ok(admin) => {
            companies::add_member_by_instance_admin(app, &admin, req.param("cmp"), &email, &role)
                .map(|_| "member_added")
        }
        Err(_) => ctx
            .permit::<perm::CompanyMembersManage>()
            .and_then(|permit| {
                invitations::invite_to_company(app, &permit, &email, company_role(&role)?)
            })
            .map(|_| "member_invited"),
    };
    let (errs, general) = match added {
        Ok(n) => return Ok(done(&company_href(req.param("cmp"), "members"), n)),
        Err(Error::Validation(errs)) => (errs, None),
        Err(e) => (Vec::new(), Some(words(e)?)),
    };
    let mut v = members_view(app, &c, &ctx, req)?;
    v.add = v.add.map(|form| {
        let mut form = form.with_errors(&f, &errs);
        if general.is_some() {
            form.error = general;
        }
        form
    });
    page(
        app,
        &c,
        "Members",
        "settings/company_members",
        &v,
        None,
        422,
    )
}

/// `POST /settings/companies/{cmp}/members/{user}/role`.
pub fn change_member(app: &Context, req: &Req) -> Result<Resp> {
    member_action(app, req, true)
}

/// `POST /settings/companies/{cmp}/members/{user}/remove`.
pub fn remove_member(app: &Context, req: &Req) -> Result<Resp> {
    member_action(app, req, false)
}

fn company_role(s: &str) -> Result<CompanyRole> {
    CompanyRole::parse_field("role", s).map_err(|e| Error::Validation(vec![e]))
}

fn member_action(app: &Context, req: &Req, change: bool) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let ctx = company_access(app, &c.session.principal, req.param("cmp"))?;
    let user = req.param("user");
    let result = if change {
        let role = req.form().get("role").cloned().unwrap_or_default();
        ctx.permit::<perm::CompanyMembersManage>()
            .and_then(|permit| companies::update_member(app, &permit, user, &role))
            .map(|_| "member_changed")
    } else {
        companies::remove_member(app, &ctx, user).map(|_| "member_removed")
    };
    let msg = match result {
        Ok(n) => return Ok(done(&company_href(req.param("cmp"), "members"), n)),
        Err(Error::Validation(errs)) => sentence(&format!(
            "the role {}",
            errs.first().map_or("is not valid", |e| e.message.as_str())
        )),
        Err(e) => words(e)?,
    };
    let mut v = members_view(app, &c, &ctx, req)?;
    v.error = Some(msg);
    page(
        app,
        &c,
        "Members",
        "settings/company_members",
        &v,
        None,
        422,
    )
}
