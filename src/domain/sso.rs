//! Why a single sign-on could not start or finish: one closed set, each with its stable
//! problem code; and how a claimed email domain was proven.

use super::UserId;

/// A single sign-on failure (its code is the `code` of the problem document).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SsoFailure {
    /// The address does not sign in with this single sign-on.
    NotConfigured,
    /// The sign-in link is invalid, used, expired, or came back to another browser.
    StateInvalid,
    /// The identity provider has not verified the address.
    EmailUnverified,
    /// The address is not in a verified domain of the organization.
    DomainMismatch,
    /// An instance administrator's account never signs in through an organization's SSO.
    AdminNotLinked,
    /// The identity provider (or its plugin) failed.
    ProviderFailed,
    /// The organization's connection is set up wrong.
    Misconfigured,
    /// The address signs in with single sign-on, not a password.
    Required,
    /// A domain's ownership could not be proven.
    DomainVerificationFailed,
}

impl SsoFailure {
    /// Every failure.
    pub const ALL: [SsoFailure; 9] = [
        SsoFailure::NotConfigured,
        SsoFailure::StateInvalid,
        SsoFailure::EmailUnverified,
        SsoFailure::DomainMismatch,
        SsoFailure::AdminNotLinked,
        SsoFailure::ProviderFailed,
        SsoFailure::Misconfigured,
        SsoFailure::Required,
        SsoFailure::DomainVerificationFailed,
    ];

    /// The stable problem code.
    pub fn code(self) -> &'static str {
        match self {
            SsoFailure::NotConfigured => "sso_not_configured",
            SsoFailure::StateInvalid => "sso_state_invalid",
            SsoFailure::EmailUnverified => "sso_email_unverified",
            SsoFailure::DomainMismatch => "sso_domain_mismatch",
            SsoFailure::AdminNotLinked => "sso_admin_not_linked",
            SsoFailure::ProviderFailed => "sso_provider_failed",
            SsoFailure::Misconfigured => "sso_misconfigured",
            SsoFailure::Required => "sso_required",
            SsoFailure::DomainVerificationFailed => "domain_verification_failed",
        }
    }

    /// True when the host refused the identity the provider vouched for (the person may
    /// retry with another account), as opposed to a broken flow or provider.
    pub fn refuses_identity(self) -> bool {
        match self {
            SsoFailure::EmailUnverified
            | SsoFailure::DomainMismatch
            | SsoFailure::AdminNotLinked => true,
            SsoFailure::NotConfigured
            | SsoFailure::StateInvalid
            | SsoFailure::ProviderFailed
            | SsoFailure::Misconfigured
            | SsoFailure::Required
            | SsoFailure::DomainVerificationFailed => false,
        }
    }
}

/// Whether an organization has proven it owns a claimed email domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainClaimStatus {
    /// Claimed; its TXT record has not been seen yet.
    Pending,
    /// Proven: addresses in it sign in through the organization's single sign-on.
    Verified,
}

impl DomainClaimStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainClaimStatus::Pending => "pending",
            DomainClaimStatus::Verified => "verified",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<DomainClaimStatus> {
        match s {
            "pending" => Some(DomainClaimStatus::Pending),
            "verified" => Some(DomainClaimStatus::Verified),
            _ => None,
        }
    }
}

/// Who proved a claimed domain, as stored: its DNS record, an instance administrator (the
/// user when known; which one is for the audit log) or the operator on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DomainVerifier {
    /// Its TXT record was found (`dns`).
    Dns,
    /// An instance administrator approved it (`admin:<user id>`, or `admin`).
    InstanceAdmin(Option<UserId>),
    /// The operator approved it with the CLI (`cli`).
    Operator,
}

impl DomainVerifier {
    /// The stored form.
    pub fn to_stored(&self) -> String {
        match self {
            DomainVerifier::Dns => "dns".into(),
            DomainVerifier::InstanceAdmin(Some(u)) => format!("admin:{u}"),
            DomainVerifier::InstanceAdmin(None) => "admin".into(),
            DomainVerifier::Operator => "cli".into(),
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<DomainVerifier> {
        match s {
            "dns" => Some(DomainVerifier::Dns),
            "admin" => Some(DomainVerifier::InstanceAdmin(None)),
            "cli" => Some(DomainVerifier::Operator),
            _ => s
                .strip_prefix("admin:")
                .filter(|u| !u.is_empty())
                .map(|u| DomainVerifier::InstanceAdmin(Some(UserId::from_trusted(u.into())))),
        }
    }

    /// How the domain was proven, as the settings and the audit log say it.
    pub fn method(&self) -> DomainProof {
        match self {
            DomainVerifier::Dns => DomainProof::Dns,
            DomainVerifier::InstanceAdmin(_) | DomainVerifier::Operator => {
                DomainProof::InstanceAdmin
            }
        }
    }
}

/// How a claimed domain was proven, as shown (`verified_by`) and audited (`method`): by its
/// DNS record, or vouched for by an administrator of the instance (on the pages or the CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainProof {
    /// Its TXT record was found.
    Dns,
    /// An instance administrator or the operator vouched for it.
    InstanceAdmin,
}

impl std::fmt::Display for SsoFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_stable() {
        let codes: std::collections::HashSet<_> =
            SsoFailure::ALL.iter().map(|f| f.code()).collect();
        assert_eq!(codes.len(), SsoFailure::ALL.len());
        assert_eq!(SsoFailure::StateInvalid.to_string(), "sso_state_invalid");
        let refused: Vec<_> = SsoFailure::ALL
            .into_iter()
            .filter(|f| f.refuses_identity())
            .collect();
        assert_eq!(
            refused,
            [
                SsoFailure::EmailUnverified,
                SsoFailure::DomainMismatch,
                SsoFailure::AdminNotLinked
            ]
        );
    }
}
