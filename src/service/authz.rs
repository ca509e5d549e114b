//! Authorization in one place. The role → permission table of SPEC §2 lives here, and so do
//! the access proofs ([`OrgAccess`], [`CompanyCtx`], [`InstanceAdmin`]) that use cases require:
//! only this module can build them, so a handler cannot skip the check, and every query a use
//! case runs is scoped by the organization inside the proof. A resource of another
//! organization is "not found", exactly like one that does not exist.
//!
//! A permission check returns a [`Permit`] (or [`CompanyPermit`]) for that one permission, and
//! a use case that needs the permission takes the permit as an argument: forgetting the check
//! does not compile. Every path that grants a role or company access (invitations, direct
//! adds, member changes, resend, acceptance) goes through [`grant_ceiling`]: nobody — person
//! or key — grants more than they hold themselves.

use std::marker::PhantomData;

use crate::domain::apikey::Scope;
use crate::domain::entities::{Company, Organization, Via};
use crate::domain::{
    CompanyAccess, CompanyId, CompanyRole, Feature, FeatureSwitches, KeyId, OrgId, OrgRole,
    Permission, User, UserId,
};
use crate::error::{Error, Result};
use crate::service::Context;

mod grant;
mod permit;

pub use grant::{grant_ceiling, inviter_now, Grant, Granted};
pub use permit::{perm, CompanyPermit, Perm, Permit};

/// An API key acting as a principal of its organization.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    /// The key.
    pub key_id: KeyId,
    /// Its organization (the only one it can see).
    pub org_id: OrgId,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A signed-in user (session cookie).
    User(User),
    /// An organization API key (`Authorization: Bearer`).
    ApiKey(KeyPrincipal),
}

/// Who is calling, from which client address.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User or key.
    pub subject: Subject,
    /// Client address (for audit).
    pub client_ip: String,
}

impl Principal {
    /// A signed-in user principal.
    pub fn for_user(user: User, client_ip: &str) -> Principal {
        Principal {
            subject: Subject::User(user),
            client_ip: client_ip.to_string(),
        }
    }

    /// The user, or `forbidden` for an API key (personal and admin routes are for people).
    pub fn user(&self) -> Result<&User> {
        match &self.subject {
            Subject::User(u) => Ok(u),
            Subject::ApiKey(_) => Err(Error::Forbidden(
                "API keys act for an organization; this route is for signed-in people".into(),
            )),
        }
    }

    /// The user's ID, if a person is calling.
    pub fn user_id(&self) -> Option<&UserId> {
        match &self.subject {
            Subject::User(u) => Some(&u.id),
            Subject::ApiKey(_) => None,
        }
    }

    /// The key, if an API key is calling.
    pub fn key(&self) -> Option<&KeyPrincipal> {
        match &self.subject {
            Subject::ApiKey(k) => Some(k),
            Subject::User(_) => None,
        }
    }

    /// Whether the caller is an instance administrator (never true for keys).
    pub fn is_instance_admin(&self) -> bool {
        matches!(&self.subject, Subject::User(u) if u.is_instance_admin)
    }
}

/// The scope an API key needs for a permission; `None` when no key may ever have it (API
/// keys, owners, deletion, billing changes, data repository: no privilege escalation).
pub fn scope_for(p: Permission) -> Option<Scope> {
    use Permission::*;
    match p {
        OrgRead => Some(Scope::OrgRead),
        MembersRead => Some(Scope::MembersRead),
        MembersManage => Some(Scope::MembersWrite),
        CompaniesManage
        | CompanyUpdate
        | SitesManage
        | DataPreferencesManage
        | CompanyMembersManage => Some(Scope::CompaniesWrite),
        CompanyRead => Some(Scope::CompaniesRead),
        BillingRead => Some(Scope::BillingRead),
        AuditRead => Some(Scope::AuditRead),
        OrgUpdate | OrgDelete | OwnersManage | ApiKeysManage | BillingManage
        | DataRepositoryRead | DataRepositoryManage => None,
    }
}

fn key_explain(k: &KeyPrincipal, p: Permission) -> (bool, String) {
    match scope_for(p) {
        Some(s) if k.scopes.contains(&s) => {
            (true, format!("this API key has the `{}` scope", s.as_str()))
        }
        Some(s) => (
            false,
            format!("this API key lacks the `{}` scope", s.as_str()),
        ),
        None => (false, format!("API keys can never hold `{}`", p.as_str())),
    }
}

fn key_denied(k: &KeyPrincipal, p: Permission) -> Error {
    match scope_for(p) {
        Some(s) if !k.scopes.contains(&s) => Error::InsufficientScope(s.as_str()),
        _ => Error::PermissionDenied {
            permission: p.as_str(),
            reason: format!("API keys can never hold `{}`", p.as_str()),
        },
    }
}

/// Proof that the caller is an instance administrator.
#[derive(Debug)]
pub struct InstanceAdmin<'a> {
    principal: &'a Principal,
}

impl<'a> InstanceAdmin<'a> {
    /// The administrator.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }
}

/// Checks the instance-admin flag.
pub fn instance_admin(p: &Principal) -> Result<InstanceAdmin<'_>> {
    p.user()?;
    if p.is_instance_admin() {
        Ok(InstanceAdmin { principal: p })
    } else {
        Err(Error::Forbidden(
            "this needs an instance administrator".into(),
        ))
    }
}

/// Proof that the caller may create organizations: instance administrators always, other
/// signed-in people when `allow_org_creation` is on.
#[derive(Debug)]
pub struct OrgCreator<'a> {
    principal: &'a Principal,
    user: &'a User,
}

impl<'a> OrgCreator<'a> {
    /// The caller.
    pub fn principal(&self) -> &'a Principal {
        self.principal
    }

    /// The person creating the organization.
    pub fn user(&self) -> &'a User {
        self.user
    }
}

/// Checks who may create organizations (before the body is read).
pub fn org_creator<'a>(app: &Context, p: &'a Principal) -> Result<OrgCreator<'a>> {
    let user = p.user()?;
    if user.is_instance_admin || app.config.allow_org_creation {
        Ok(OrgCreator { principal: p, user })
    } else {
        Err(Error::Forbidden(
            "organization creation is limited to instance administrators here".into(),
        ))
    }
}

/// Proof of the CLI operator (local shell access to the data dir).
#[derive(Debug)]
pub struct Operator(());

/// The CLI runs as the operator of the instance.
pub fn operator() -> Operator {
    Operator(())
}

/// Does an organization role include a permission? The table of SPEC §2.
pub fn org_role_permits(role: OrgRole, p: Permission) -> bool {
    use OrgRole::*;
    use Permission::*;
    match p {
        OrgRead | MembersRead => true,
        OrgUpdate | MembersManage | CompaniesManage | ApiKeysManage | DataRepositoryRead
        | AuditRead => {
            matches!(role, Owner | Admin)
        }
        OrgDelete | OwnersManage | DataRepositoryManage => role == Owner,
        BillingRead | BillingManage => matches!(role, Owner | Billing),
        // Company permissions follow the company role that organization access grants.
        CompanyRead
        | CompanyUpdate
        | SitesManage
        | DataPreferencesManage
        | CompanyMembersManage => company_role_permits(role.company_role(), p),
    }
}

/// Does a company role include a company permission?
pub fn company_role_permits(role: CompanyRole, p: Permission) -> bool {
    match p {
        Permission::CompanyRead => true,
        Permission::CompanyUpdate
        | Permission::SitesManage
        | Permission::DataPreferencesManage
        | Permission::CompanyMembersManage => role == CompanyRole::Admin,
        _ => false,
    }
}

/// The effective feature switches of an organization (explicit value, else the config default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `api_keys`.
    pub api_keys: bool,
    /// `billing`.
    pub billing: bool,
    /// `sso`.
    pub sso: bool,
}

impl Features {
    /// The organization's explicit switches over the config defaults.
    pub fn resolve(app: &Context, stored: &FeatureSwitches) -> Features {
        Features::over_defaults(stored, app.config.default_features)
    }

    /// `stored` over `defaults` (api_keys, billing, sso), for callers without a context.
    pub fn over_defaults(stored: &FeatureSwitches, defaults: [bool; 3]) -> Features {
        let default = |f: Feature| match f {
            Feature::ApiKeys => defaults[0],
            Feature::Billing => defaults[1],
            Feature::Sso => defaults[2],
        };
        Features {
            api_keys: stored.on(Feature::ApiKeys, default),
            billing: stored.on(Feature::Billing, default),
            sso: stored.on(Feature::Sso, default),
        }
    }

    /// Whether one feature is on.
    pub fn on(&self, f: Feature) -> bool {
        match f {
            Feature::ApiKeys => self.api_keys,
            Feature::Billing => self.billing,
            Feature::Sso => self.sso,
        }
    }
}

/// Proof of access to one organization: the caller's role there (or instance-admin oversight).
/// Its fields are private: only this module builds it.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    org: Organization,
    role: Option<OrgRole>,
    company_access: Option<CompanyAccess>,
    features: Features,
    principal: Principal,
}

impl OrgAccess {
    /// The organization.
    pub fn org(&self) -> &Organization {
        &self.org
    }

    /// The caller's role; `None` for an instance admin who is not a member, and for keys.
    pub fn role(&self) -> Option<OrgRole> {
        self.role
    }

    /// The caller's company access (members and keys; keys reach every company).
    pub fn company_access(&self) -> Option<&CompanyAccess> {
        self.company_access.as_ref()
    }

    /// Effective tenant features.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Checks permission `P` (and the feature it needs) and returns the permit for it.
    pub fn permit<P: Perm>(&self) -> Result<Permit<'_, P>> {
        self.require(P::PERMISSION)?;
        Ok(Permit {
            access: self,
            _p: PhantomData,
        })
    }

    /// Whether the caller's company access is limited to a list (not `all`): the list, else
    /// `None`. Reads of such a caller are confined to these companies.
    pub fn company_limit(&self) -> Option<&[CompanyId]> {
        match &self.company_access {
            Some(CompanyAccess::List(ids)) => Some(ids),
            _ => None,
        }
    }

    /// The organization ID every query of the use case is scoped by.
    pub fn org_id(&self) -> &OrgId {
        &self.org.id
    }

    /// Checks a permission (and the feature it needs); the error says which and why.
    fn require(&self, p: Permission) -> Result<()> {
        let (allowed, reasons) = self.explain(p);
        if allowed {
            return Ok(());
        }
        if let Some(k) = self.principal.key() {
            if let Some(f) = p.feature().filter(|f| !self.features.on(*f)) {
                if key_explain(k, p).0 {
                    return Err(Error::FeatureDisabled(f.as_str()));
                }
            }
            return Err(key_denied(k, p));
        }
        if let Some(f) = p.feature() {
            if !self.features.on(f) && self.role.is_some_and(|r| org_role_permits(r, p)) {
                return Err(Error::FeatureDisabled(f.as_str()));
            }
        }
        Err(Error::PermissionDenied {
            permission: p.as_str(),
            reason: reasons.join("; "),
        })
    }

    /// Whether a permission is granted, with the reasons in words.
    pub fn explain(&self, p: Permission) -> (bool, Vec<String>) {
        let mut reasons = Vec::new();
        let role_ok = match (self.role, self.principal.key()) {
            (_, Some(k)) => {
                let (ok, why) = key_explain(k, p);
                reasons.push(why);
                ok
            }
            (role, None) => match role {
                Some(r) => {
                    let ok = org_role_permits(r, p);
                    reasons.push(if ok {
                        format!("your role `{}` includes `{}`", r.as_str(), p.as_str())
                    } else {
                        format!(
                            "your role `{}` does not include `{}`",
                            r.as_str(),
                            p.as_str()
                        )
                    });
                    ok
                }
                None => {
                    let ok = p == Permission::OrgRead;
                    reasons.push(if ok {
                        "instance administrators can see every organization".to_string()
                    } else {
                        "you are an instance administrator but not a member of this organization"
                            .to_string()
                    });
                    ok
                }
            },
        };
        let feature_ok = match p.feature() {
            Some(f) => {
                let on = self.features.on(f);
                reasons.push(format!(
                    "the `{}` feature is {} for this organization",
                    f.as_str(),
                    if on { "on" } else { "off" }
                ));
                on
            }
            None => true,
        };
        (role_ok && feature_ok, reasons)
    }

    /// Whether the caller's organization access covers a company of this organization.
    pub fn reaches_company(&self, app: &Context, company: &CompanyId) -> Result<bool> {
        match &self.company_access {
            Some(CompanyAccess::All) => Ok(true),
            Some(CompanyAccess::List(_)) => match self.principal.user_id() {
                Some(uid) => app
                    .store
                    .read(|c| c.member_has_company(self.org_id(), uid, company)),
                None => Ok(false),
            },
            None => Ok(false),
        }
    }
}

/// Builds the proof of access to an organization from an untrusted ID. Unknown and foreign
/// organizations are `not_found`; a member of its companies only gets `not_org_member`.
pub fn org_access(app: &Context, p: &Principal, org_id: &str) -> Result<OrgAccess> {
    let id = OrgId::parse(org_id).ok_or(Error::NotFound)?;
    let user = match &p.subject {
        Subject::ApiKey(k) => {
            // A key sees its own organization only; any other is "not found".
            if k.org_id != id {
                return Err(Error::NotFound);
            }
            let (org, features) = app
                .store
                .read(|c| c.org_with_features(&id))?
                .ok_or(Error::NotFound)?;
            return Ok(OrgAccess {
                org,
                role: None,
                company_access: Some(CompanyAccess::All),
                features: Features::resolve(app, &features),
                principal: p.clone(),
            });
        }
        Subject::User(u) => u,
    };
    let (org, membership, company_access, features, direct) = app.store.read(|c| {
        let Some(org) = c.org(&id)? else {
            return Ok((None, None, None, FeatureSwitches::default(), false));
        };
        let m = c.membership(&id, &user.id)?;
        let access = match &m {
            Some(m) if m.all_companies => Some(CompanyAccess::All),
            Some(_) => Some(CompanyAccess::List(c.member_company_ids(&id, &user.id)?)),
            None => None,
        };
        let direct = m.is_none() && !c.direct_companies_in_org(&id, &user.id)?.is_empty();
        Ok((Some(org), m, access, c.org_features(&id)?, direct))
    })?;
    let org = org.ok_or(Error::NotFound)?;
    let features = Features::resolve(app, &features);
    match membership {
        Some(m) => Ok(OrgAccess {
            org,
            role: Some(m.role),
            company_access,
            features,
            principal: p.clone(),
        }),
        None if user.is_instance_admin => Ok(OrgAccess {
            org,
            role: None,
            company_access: None,
            features,
            principal: p.clone(),
        }),
        None if direct => Err(Error::NotOrgMember),
        None => Err(Error::NotFound),
    }
}

/// Billing read access (`billing.read`): the role table decides first. For a member it
/// refuses, an organization whose billing source is a plugin lets that plugin's
/// `can-view-billing` widen read access — never billing changes. Any plugin failure keeps the
/// refusal (fail closed).
pub fn require_billing_read<'a>(
    app: &Context,
    access: &'a OrgAccess,
) -> Result<Permit<'a, perm::BillingRead>> {
    let granted = Permit {
        access,
        _p: PhantomData,
    };
    let denied = match access.require(Permission::BillingRead) {
        Ok(()) => return Ok(granted),
        Err(e @ Error::PermissionDenied { .. }) => e,
        Err(e) => return Err(e),
    };
    let (Some(role), Subject::User(user)) = (access.role, &access.principal.subject) else {
        return Err(denied);
    };
    if !access.features.on(Feature::Billing) {
        return Err(denied);
    }
    let Some(plugin) = app.store.read(|c| c.billing_source(access.org_id()))? else {
        return Err(denied);
    };
    let member = crate::service::hooks::BillingMember {
        user_id: user.id.to_string(),
        email: user.email.as_str().to_string(),
        role: role.as_str().to_string(),
    };
    let org = crate::service::hooks::BillingOrg::of(&access.org);
    match app.hooks.billing_can_view(&plugin, &org, &member) {
        Ok(true) => Ok(granted),
        Ok(false) => Err(denied),
        Err(e) => {
            log::warn!(
                "billing plugin {plugin} could not decide billing visibility for {} in {} ({}): {e}",
                user.id,
                access.org_id(),
                e.code()
            );
            Err(denied)
        }
    }
}

/// Proof of access to one company: the caller's effective company role there. Its fields
/// are private: only this module builds it.
#[derive(Debug, Clone)]
pub struct CompanyCtx {
    company: Company,
    role: CompanyRole,
    via: Via,
    org_role: Option<OrgRole>,
    principal: Principal,
}

impl CompanyCtx {
    /// The organization every query is scoped by.
    pub fn org_id(&self) -> &OrgId {
        &self.company.org
    }

    /// The company's ID.
    pub fn company_id(&self) -> &CompanyId {
        &self.company.id
    }

    /// The company.
    pub fn company(&self) -> &Company {
        &self.company
    }

    /// Effective role (the higher of direct and organization-derived).
    pub fn role(&self) -> CompanyRole {
        self.role
    }

    /// Where the effective role comes from.
    pub fn via(&self) -> Via {
        self.via
    }

    /// Organization role, when the caller is an organization member.
    pub fn org_role(&self) -> Option<OrgRole> {
        self.org_role
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether the caller holds company permission `p` (for showing or hiding controls; a
    /// use case still takes the permit).
    pub fn allows(&self, p: Permission) -> bool {
        self.require(p).is_ok()
    }

    /// Checks company permission `P` and returns the permit for it.
    pub fn permit<P: Perm>(&self) -> Result<CompanyPermit<'_, P>> {
        self.require(P::PERMISSION)?;
        Ok(CompanyPermit {
            ctx: self,
            _p: PhantomData,
        })
    }

    /// The permit to list the company's members (company `member` and `admin`, keys with
    /// `members:read`; not `viewer`).
    pub fn member_list_permit(&self) -> Result<CompanyPermit<'_, perm::MemberList>> {
        self.require_member_list()?;
        Ok(CompanyPermit {
            ctx: self,
            _p: PhantomData,
        })
    }

    fn require(&self, p: Permission) -> Result<()> {
        if let Some(k) = self.principal.key() {
            return if key_explain(k, p).0 {
                Ok(())
            } else {
                Err(key_denied(k, p))
            };
        }
        if company_role_permits(self.role, p) {
            return Ok(());
        }
        Err(Error::PermissionDenied {
            permission: p.as_str(),
            reason: format!(
                "your role `{}` in company {} does not include `{}`",
                self.role.as_str(),
                self.company.name,
                p.as_str()
            ),
        })
    }

    fn require_member_list(&self) -> Result<()> {
        if let Some(k) = self.principal.key() {
            return if k.scopes.contains(&Scope::MembersRead) {
                Ok(())
            } else {
                Err(Error::InsufficientScope(Scope::MembersRead.as_str()))
            };
        }
        if self.role >= CompanyRole::Member {
            Ok(())
        } else {
            Err(Error::PermissionDenied {
                permission: Permission::CompanyRead.as_str(),
                reason: "company viewers see sites and data preferences only".into(),
            })
        }
    }
}

/// The effective company role of a user, or `None` when they cannot reach the company.
pub fn company_role_of(
    app: &Context,
    user: &crate::domain::UserId,
    company: &Company,
) -> Result<Option<(CompanyRole, Via, Option<OrgRole>)>> {
    app.store.read(|c| {
        let direct = c.direct_company_role(&company.id, user)?;
        let m = c.membership(&company.org, user)?;
        let via_org = match &m {
            Some(m)
                if m.all_companies || c.member_has_company(&company.org, user, &company.id)? =>
            {
                Some(m.role.company_role())
            }
            _ => None,
        };
        let org_role = m.map(|m| m.role);
        Ok(match (direct, via_org) {
            (Some(d), Some(o)) if o > d => Some((o, Via::Organization, org_role)),
            (Some(d), _) => Some((d, Via::Direct, org_role)),
            (None, Some(o)) => Some((o, Via::Organization, org_role)),
            (None, None) => None,
        })
    })
}

/// Builds the proof of access to a company from an untrusted ID; `not_found` when the caller
/// cannot reach it.
pub fn company_access(app: &Context, p: &Principal, company_id: &str) -> Result<CompanyCtx> {
    let id = CompanyId::parse(company_id).ok_or(Error::NotFound)?;
    let company = app.store.read(|c| c.company(&id))?.ok_or(Error::NotFound)?;
    let (role, via, org_role) = match &p.subject {
        Subject::ApiKey(k) if k.org_id == company.org => {
            (CompanyRole::Admin, Via::Organization, None)
        }
        Subject::ApiKey(_) => return Err(Error::NotFound),
        Subject::User(u) => company_role_of(app, &u.id, &company)?.ok_or(Error::NotFound)?,
    };
    Ok(CompanyCtx {
        company,
        role,
        via,
        org_role,
        principal: p.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::grant::key_covers;
    use super::*;

    #[test]
    fn role_table_matches_spec() {
        use OrgRole::*;
        use Permission::*;
        let cases: &[(Permission, [bool; 4])] = &[
            // owner, admin, billing, member
            (OrgRead, [true, true, true, true]),
            (MembersRead, [true, true, true, true]),
            (OrgUpdate, [true, true, false, false]),
            (OrgDelete, [true, false, false, false]),
            (OwnersManage, [true, false, false, false]),
            (MembersManage, [true, true, false, false]),
            (CompaniesManage, [true, true, false, false]),
            (ApiKeysManage, [true, true, false, false]),
            (BillingRead, [true, false, true, false]),
            (BillingManage, [true, false, true, false]),
            (DataRepositoryRead, [true, true, false, false]),
            (DataRepositoryManage, [true, false, false, false]),
            (AuditRead, [true, true, false, false]),
            (CompanyRead, [true, true, true, true]),
            (SitesManage, [true, true, false, false]),
        ];
        for (p, expect) in cases {
            for (role, want) in [Owner, Admin, Billing, Member].iter().zip(expect) {
                assert_eq!(org_role_permits(*role, *p), *want, "{role:?} {p:?}");
            }
        }
    }

    #[test]
    fn company_roles() {
        assert!(company_role_permits(
            CompanyRole::Viewer,
            Permission::CompanyRead
        ));
        assert!(!company_role_permits(
            CompanyRole::Member,
            Permission::SitesManage
        ));
        assert!(company_role_permits(
            CompanyRole::Admin,
            Permission::CompanyMembersManage
        ));
    }
    fn key(scopes: &[Scope]) -> KeyPrincipal {
        KeyPrincipal {
            key_id: KeyId::generate(),
            org_id: OrgId::generate(),
            scopes: scopes.to_vec(),
        }
    }

    fn key_grants(k: &KeyPrincipal, role: OrgRole) -> bool {
        key_covers(
            k,
            |p| org_role_permits(role, p),
            |p| org_role_permits(OrgRole::Member, p),
        )
    }

    #[test]
    fn keys_grant_members_only() {
        use OrgRole::*;
        let writer = key(&[Scope::MembersWrite]);
        assert!(key_grants(&writer, Member));
        for r in [Admin, Billing, Owner] {
            assert!(!key_grants(&writer, r), "members:write grants {r:?}");
        }
        // Even every scope together cannot grant rights no key holds.
        let all = key(Scope::ALL);
        for r in [Admin, Billing, Owner] {
            assert!(!key_grants(&all, r), "all scopes grant {r:?}");
        }
    }

    #[test]
    fn keys_grant_company_roles_their_scopes_cover() {
        let grants = |k: &KeyPrincipal, r: CompanyRole| {
            key_covers(
                k,
                |p| company_role_permits(r, p),
                |p| company_role_permits(CompanyRole::Viewer, p),
            )
        };
        let reader = key(&[Scope::CompaniesRead]);
        assert!(grants(&reader, CompanyRole::Member));
        assert!(!grants(&reader, CompanyRole::Admin));
        assert!(grants(&key(&[Scope::CompaniesWrite]), CompanyRole::Admin));
    }
}
