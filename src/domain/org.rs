//! Organizations, companies, roles and the permission catalogue (SPEC §2). The role →
//! permission table itself lives in `service::authz`, the one place that decides access.

use serde::{Deserialize, Deserializer, Serialize};

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

    /// What a submitted role must be, said beside the field.
    pub const HINT: &'static str = "must be one of owner, admin, billing, member";

    /// Parses a submitted role, naming `field` when it is not one.
    pub fn parse_field(field: &str, s: &str) -> Result<OrgRole, FieldError> {
        Self::parse(s).ok_or_else(|| FieldError::new(field, Self::HINT))
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

    /// Every role, lowest first.
    pub const ALL: [CompanyRole; 3] =
        [CompanyRole::Viewer, CompanyRole::Member, CompanyRole::Admin];

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<CompanyRole> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What a submitted company role must be, said beside the field.
    pub const HINT: &'static str = "must be one of admin, member, viewer";

    /// Parses a submitted company role, naming `field` when it is not one.
    pub fn parse_field(field: &str, s: &str) -> Result<CompanyRole, FieldError> {
        Self::parse(s).ok_or_else(|| FieldError::new(field, Self::HINT))
    }
}

/// Request bodies name roles by their wire form; anything else is refused with the same
/// hint as [`OrgRole::parse_field`] (the body decoder puts the field name beside it).
impl<'de> Deserialize<'de> for OrgRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        OrgRole::parse(&s).ok_or_else(|| serde::de::Error::custom(OrgRole::HINT))
    }
}

/// As for [`OrgRole`].
impl<'de> Deserialize<'de> for CompanyRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CompanyRole::parse(&s).ok_or_else(|| serde::de::Error::custom(CompanyRole::HINT))
    }
}

/// An organization role or a company role, where one column or listing holds either: the
/// role an invitation carries (a company role for a company invitation), or how a member
/// reaches a company (directly, or through their organization role).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ScopedRole {
    /// An organization role.
    Org(OrgRole),
    /// A company role.
    Company(CompanyRole),
}

impl ScopedRole {
    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopedRole::Org(r) => r.as_str(),
            ScopedRole::Company(r) => r.as_str(),
        }
    }
}

/// Stored state of an invitation (`expired` is derived from the expiry, not stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    /// Not yet accepted or revoked.
    Pending,
    /// Accepted.
    Accepted,
    /// Revoked.
    Revoked,
}

impl InvitationStatus {
    /// Every status.
    pub const ALL: [InvitationStatus; 3] = [
        InvitationStatus::Pending,
        InvitationStatus::Accepted,
        InvitationStatus::Revoked,
    ];

    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<InvitationStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An invitation's status as shown: the stored [`InvitationStatus`], with a pending
/// invitation past its expiry shown as `expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    /// Pending and not yet expired.
    Pending,
    /// Accepted.
    Accepted,
    /// Revoked.
    Revoked,
    /// Pending past its expiry.
    Expired,
}

impl InvitationState {
    /// The state of an invitation stored as `status` that expires at `expires_at`, at `now`.
    pub fn of(status: InvitationStatus, expires_at: i64, now: i64) -> InvitationState {
        match status {
            InvitationStatus::Accepted => InvitationState::Accepted,
            InvitationStatus::Revoked => InvitationState::Revoked,
            InvitationStatus::Pending if expires_at <= now => InvitationState::Expired,
            InvitationStatus::Pending => InvitationState::Pending,
        }
    }

    /// Wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Revoked => "revoked",
            InvitationState::Expired => "expired",
        }
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

/// The feature switches an organization sets explicitly, as stored (a JSON object of
/// booleans); a feature it does not set follows the instance default. Read once from the row,
/// so every use agrees on what the stored text means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSwitches {
    /// `api_keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<bool>,
    /// `billing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<bool>,
    /// `sso`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<bool>,
}

impl FeatureSwitches {
    fn slot(&mut self, f: Feature) -> &mut Option<bool> {
        match f {
            Feature::ApiKeys => &mut self.api_keys,
            Feature::Billing => &mut self.billing,
            Feature::Sso => &mut self.sso,
        }
    }

    /// The explicit switch of one feature, if set.
    pub fn get(&self, f: Feature) -> Option<bool> {
        match f {
            Feature::ApiKeys => self.api_keys,
            Feature::Billing => self.billing,
            Feature::Sso => self.sso,
        }
    }

    /// Sets one feature explicitly.
    pub fn set(&mut self, f: Feature, on: bool) {
        *self.slot(f) = Some(on);
    }

    /// Whether a feature is on, given the instance default for each feature.
    pub fn on(&self, f: Feature, default: impl Fn(Feature) -> bool) -> bool {
        self.get(f).unwrap_or_else(|| default(f))
    }

    /// Parses the stored text; `None` when it is not an object of known booleans.
    pub fn from_stored(text: &str) -> Option<FeatureSwitches> {
        // Through a `Value`: serde would also read a struct from a JSON array.
        match serde_json::from_str(text).ok()? {
            v @ serde_json::Value::Object(_) => serde_json::from_value(v).ok(),
            _ => None,
        }
    }

    /// The stored text (only the features set, keys in a stable order).
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
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
    fn roles_parse_in_the_domain_with_one_hint() {
        for r in OrgRole::ALL {
            assert_eq!(OrgRole::parse_field("role", r.as_str()), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<OrgRole>(&json).unwrap(), r);
        }
        for r in CompanyRole::ALL {
            assert_eq!(CompanyRole::parse_field("role", r.as_str()), Ok(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<CompanyRole>(&json).unwrap(), r);
        }
        let e = OrgRole::parse_field("role", "Owner").unwrap_err();
        assert_eq!(e, FieldError::new("role", OrgRole::HINT));
        let e = serde_json::from_value::<OrgRole>(serde_json::json!("root")).unwrap_err();
        assert_eq!(e.to_string(), OrgRole::HINT);
        let e = serde_json::from_value::<CompanyRole>(serde_json::json!("owner")).unwrap_err();
        assert_eq!(e.to_string(), CompanyRole::HINT);
        assert_eq!(ScopedRole::Company(CompanyRole::Viewer).as_str(), "viewer");
        assert_eq!(
            serde_json::to_value(ScopedRole::Org(OrgRole::Billing)).unwrap(),
            serde_json::json!("billing")
        );
    }

    #[test]
    fn feature_switches_parse_once_and_keep_the_stored_text() {
        let s = FeatureSwitches::from_stored(r#"{"billing":false,"api_keys":true}"#).unwrap();
        assert_eq!(s.get(Feature::ApiKeys), Some(true));
        assert_eq!(s.get(Feature::Billing), Some(false));
        assert_eq!(s.get(Feature::Sso), None);
        assert!(s.on(Feature::Sso, |_| true) && !s.on(Feature::Sso, |_| false));
        assert!(!s.on(Feature::Billing, |_| true));
        assert_eq!(s.to_stored(), r#"{"api_keys":true,"billing":false}"#);
        assert_eq!(
            FeatureSwitches::from_stored("{}"),
            Some(FeatureSwitches::default())
        );
        assert_eq!(FeatureSwitches::default().to_stored(), "{}");
        let mut t = FeatureSwitches::default();
        t.set(Feature::Sso, true);
        assert_eq!(t.to_stored(), r#"{"sso":true}"#);
        for bad in ["", "[]", r#"{"sso":"yes"}"#, r#"{"chat":true}"#, "null"] {
            assert_eq!(FeatureSwitches::from_stored(bad), None, "{bad}");
        }
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
