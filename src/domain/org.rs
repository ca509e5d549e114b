//! Organizations, companies, roles and the permission catalogue (SPEC §2). The role →
//! permission table itself lives in `service::authz`, the one place that decides access.

use serde::Serialize;

use super::CompanyId;
use crate::error::FieldError;

/// Organization roles, ordered by rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Everyday member.
    Member,
    /// Billing manager.
    Billing,
    /// Administrator (everything but owners, billing and deletion).
    Admin,
    /// Owner (everything).
    Owner,
}

impl OrgRole {
    /// Every role, lowest first.
    pub const ALL: [OrgRole; 4] = [
        OrgRole::Member,
        OrgRole::Billing,
        OrgRole::Admin,
        OrgRole::Owner,
    ];

    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Billing => "billing",
            OrgRole::Member => "member",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<OrgRole> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The company role that organization access grants on each reachable company.
    pub fn company_role(self) -> CompanyRole {
        match self {
            OrgRole::Owner | OrgRole::Admin => CompanyRole::Admin,
            OrgRole::Billing | OrgRole::Member => CompanyRole::Member,
        }
    }
}

/// Company roles, ordered by rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompanyRole {
    /// Reads sites and data preferences only.
    Viewer,
    /// Reads everything in the company, edits nothing but their own.
    Member,
    /// Manages sites, data preferences and members.
    Admin,
}

impl CompanyRole {
    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyRole::Admin => "admin",
            CompanyRole::Member => "member",
            CompanyRole::Viewer => "viewer",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<CompanyRole> {
        [CompanyRole::Viewer, CompanyRole::Member, CompanyRole::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Company access of an organization member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompanyAccess {
    /// Every company of the organization, including ones created later.
    All,
    /// Exactly these companies.
    List(Vec<CompanyId>),
}

impl Serialize for CompanyAccess {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CompanyAccess::All => s.serialize_str("all"),
            CompanyAccess::List(ids) => ids.serialize(s),
        }
    }
}

impl CompanyAccess {
    /// Parses `"all"` or an array of company IDs from JSON (shape only; membership of the
    /// organization is checked by the service).
    pub fn from_json(field: &str, v: &serde_json::Value) -> Result<CompanyAccess, FieldError> {
        match v {
            serde_json::Value::String(s) if s == "all" => Ok(CompanyAccess::All),
            serde_json::Value::Array(items) => {
                if items.len() > 10_000 {
                    return Err(FieldError::new(field, "lists at most 10000 companies"));
                }
                let mut ids = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let id = item.as_str().and_then(CompanyId::parse).ok_or_else(|| {
                        FieldError::new(
                            format!("{field}[{i}]"),
                            "is not a company of this organization",
                        )
                    })?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                Ok(CompanyAccess::List(ids))
            }
            _ => Err(FieldError::new(
                field,
                "must be \"all\" or a list of company IDs",
            )),
        }
    }
}

/// Tenant features, switched per organization by instance admins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Organization API keys.
    ApiKeys,
    /// Billing profile and invoices.
    Billing,
    /// Single sign-on.
    Sso,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 3] = [Feature::ApiKeys, Feature::Billing, Feature::Sso];

    /// The wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::ApiKeys => "api_keys",
            Feature::Billing => "billing",
            Feature::Sso => "sso",
        }
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Feature> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

macro_rules! permissions {
    ($($variant:ident = $s:literal,)*) => {
        /// The fixed permission catalogue (SPEC §2).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Permission { $(#[doc = $s] $variant,)* }

        impl Permission {
            /// Every permission.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];
            /// The identifier, e.g. `api_keys.manage`.
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $s,)* }
            }
            /// Parses an identifier.
            pub fn parse(s: &str) -> Option<Permission> {
                match s { $($s => Some(Permission::$variant),)* _ => None }
            }
        }
    };
}

permissions! {
    OrgRead = "org.read",
    OrgUpdate = "org.update",
    OrgDelete = "org.delete",
    OwnersManage = "owners.manage",
    MembersRead = "members.read",
    MembersManage = "members.manage",
    CompaniesManage = "companies.manage",
    ApiKeysManage = "api_keys.manage",
    BillingRead = "billing.read",
    BillingManage = "billing.manage",
    DataRepositoryRead = "data_repository.read",
    DataRepositoryManage = "data_repository.manage",
    AuditRead = "audit.read",
    CompanyRead = "company.read",
    CompanyUpdate = "company.update",
    SitesManage = "sites.manage",
    DataPreferencesManage = "data_preferences.manage",
    CompanyMembersManage = "company_members.manage",
}

impl Permission {
    /// True for permissions decided by a company role rather than the organization role.
    pub fn is_company_level(self) -> bool {
        matches!(
            self,
            Permission::CompanyRead
                | Permission::CompanyUpdate
                | Permission::SitesManage
                | Permission::DataPreferencesManage
                | Permission::CompanyMembersManage
        )
    }

    /// The tenant feature this permission also needs, if any.
    pub fn feature(self) -> Option<Feature> {
        match self {
            Permission::ApiKeysManage => Some(Feature::ApiKeys),
            Permission::BillingRead | Permission::BillingManage => Some(Feature::Billing),
            _ => None,
        }
    }
}

/// Validates a slug: 2–63 characters of `a-z`, `0-9` and inner `-`.
pub fn validate_slug(field: &str, slug: &str, errs: &mut Vec<FieldError>) {
    let ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if !ok {
        errs.push(FieldError::new(
            field,
            "must be 2-63 characters of a-z, 0-9 and single inner hyphens",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_ranks() {
        assert!(OrgRole::Owner > OrgRole::Admin && OrgRole::Admin > OrgRole::Billing);
        assert!(
            CompanyRole::Admin > CompanyRole::Member && CompanyRole::Member > CompanyRole::Viewer
        );
        assert_eq!(OrgRole::Billing.company_role(), CompanyRole::Member);
    }

    #[test]
    fn permission_catalogue_roundtrips() {
        assert_eq!(Permission::ALL.len(), 18);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
    }

    #[test]
    fn slugs() {
        let mut e = vec![];
        validate_slug("s", "acme-inc", &mut e);
        assert!(e.is_empty());
        for bad in ["a", "Acme", "-a", "a-", "a--b", "a b", &"x".repeat(64)] {
            validate_slug("s", bad, &mut e);
        }
        assert_eq!(e.len(), 7);
    }
}
