//! Permits: the proof that a permission was checked, one type per permission, taken by the
//! use cases that need it.

use std::marker::PhantomData;

use super::{CompanyCtx, OrgAccess, Principal};
use crate::domain::{CompanyId, OrgId};

/// Permission markers: one zero-sized type per permission of the catalogue, so a permit names
/// the permission in its type.
pub mod perm {
    use crate::domain::Permission;

    /// A permission marker.
    pub trait Perm {
        /// The permission the marker stands for.
        const PERMISSION: Permission;
    }

    macro_rules! markers {
        ($($name:ident),* $(,)?) => {
            $(
                #[doc = concat!("Marker of the `", stringify!($name), "` permission.")]
                #[derive(Debug, Clone, Copy)]
                pub struct $name;
                impl Perm for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        };
    }

    markers!(
        OrgRead,
        OrgUpdate,
        OrgDelete,
        OwnersManage,
        MembersRead,
        MembersManage,
        CompaniesManage,
        ApiKeysManage,
        BillingRead,
        BillingManage,
        DataRepositoryRead,
        DataRepositoryManage,
        AuditRead,
        CompanyRead,
        CompanyUpdate,
        SitesManage,
        DataPreferencesManage,
        CompanyMembersManage,
    );

    /// Marker of the right to list a company's members (company `member` and above).
    #[derive(Debug, Clone, Copy)]
    pub struct MemberList;
}

pub use perm::Perm;

/// Proof that the caller holds permission `P` in an organization. Only
/// [`OrgAccess::permit`] (and [`require_billing_read`]) build it.
#[derive(Debug)]
pub struct Permit<'a, P> {
    pub(super) access: &'a OrgAccess,
    pub(super) _p: PhantomData<P>,
}

impl<'a, P> Permit<'a, P> {
    /// The access proof the permit was checked against.
    pub fn access(&self) -> &'a OrgAccess {
        self.access
    }

    /// The organization every query is scoped by.
    pub fn org_id(&self) -> &'a OrgId {
        &self.access.org.id
    }

    /// The caller.
    pub fn principal(&self) -> &'a Principal {
        &self.access.principal
    }
}

/// Proof that the caller holds permission `P` in a company. Only [`CompanyCtx::permit`] and
/// [`CompanyCtx::member_list_permit`] build it.
#[derive(Debug)]
pub struct CompanyPermit<'a, P> {
    pub(super) ctx: &'a CompanyCtx,
    pub(super) _p: PhantomData<P>,
}

impl<'a, P> CompanyPermit<'a, P> {
    /// The company proof the permit was checked against.
    pub fn ctx(&self) -> &'a CompanyCtx {
        self.ctx
    }

    /// The organization every query is scoped by.
    pub fn org_id(&self) -> &'a OrgId {
        &self.ctx.company.org
    }

    /// The company.
    pub fn company_id(&self) -> &'a CompanyId {
        &self.ctx.company.id
    }

    /// The caller.
    pub fn principal(&self) -> &'a Principal {
        &self.ctx.principal
    }
}
