//! Every error variant maps to one problem: status, code and extension members.

use super::*;
use crate::domain::apikey::Refusal;
use crate::domain::SsoFailure;
use crate::error::Methods;

/// Numbers each variant; no wildcard, so a new variant fails to compile here until the
/// table below has a sample of it.
fn variant(e: &Error) -> usize {
    match e {
        Error::InvalidJson(_) => 0,
        Error::Validation(_) => 1,
        Error::Unauthenticated => 2,
        Error::InvalidCredentials => 3,
        Error::Forbidden(_) => 4,
        Error::PermissionDenied { .. } => 5,
        Error::InsufficientScope(_) => 6,
        Error::KeyRejected(_) => 7,
        Error::KeyInQuery => 8,
        Error::KeyRecentlyUsed { .. } => 9,
        Error::InvitationNotFound => 10,
        Error::InvitationExpired => 11,
        Error::InvitationRevoked => 12,
        Error::InvitationUsed => 13,
        Error::EmailMismatch { .. } => 14,
        Error::EmailUnverified => 15,
        Error::SsoManaged => 16,
        Error::TokenInvalid => 17,
        Error::NotOrgMember => 18,
        Error::FeatureDisabled(_) => 19,
        Error::LastOwner => 20,
        Error::NotFound => 21,
        Error::RateLimited { .. } => 22,
        Error::Conflict(_) => 23,
        Error::SetupTokenInvalid => 24,
        Error::AccountDisabled => 25,
        Error::Sso { .. } => 26,
        Error::MfaRequired { .. } => 27,
        Error::TwoStep { .. } => 28,
        Error::BillingUnavailable { .. } => 29,
        Error::SchemaTooNew { .. } => 30,
        Error::Config(_) => 31,
        Error::Internal(_) => 32,
    }
}
const VARIANTS: usize = 33;

fn table() -> Vec<(Error, u16, &'static str, &'static [&'static str])> {
    vec![
        (Error::InvalidJson("eof".into()), 400, "invalid_json", &[]),
        (
            Error::field("name", "is required"),
            422,
            "validation_failed",
            &["errors"],
        ),
        (
            Error::conflict_field("slug", "is taken"),
            409,
            "conflict",
            &["errors"],
        ),
        (Error::Unauthenticated, 401, "unauthenticated", &[]),
        (Error::InvalidCredentials, 401, "invalid_credentials", &[]),
        (Error::Forbidden("no".into()), 403, "forbidden", &[]),
        (
            Error::PermissionDenied {
                permission: "members.manage",
                reason: "role".into(),
            },
            403,
            "forbidden",
            &["permission"],
        ),
        (
            Error::InsufficientScope("orgs:write"),
            403,
            "insufficient_scope",
            &["scope"],
        ),
        (
            Error::KeyRejected(Refusal::Revoked),
            401,
            "key_revoked",
            &[],
        ),
        (Error::KeyInQuery, 400, "key_in_query", &[]),
        (
            Error::KeyRecentlyUsed {
                last_used_at: "2026-01-01T00:00:00Z".into(),
            },
            409,
            "key_recently_used",
            &["last_used_at"],
        ),
        (Error::InvitationNotFound, 404, "invitation_not_found", &[]),
        (Error::InvitationExpired, 410, "invitation_expired", &[]),
        (Error::InvitationRevoked, 410, "invitation_revoked", &[]),
        (Error::InvitationUsed, 409, "invitation_used", &[]),
        (
            Error::EmailMismatch {
                invited: "a***@x.example".into(),
                signed_in: "b@x.example".into(),
            },
            403,
            "email_mismatch",
            &[],
        ),
        (Error::EmailUnverified, 403, "email_unverified", &[]),
        (Error::SsoManaged, 409, "sso_managed", &[]),
        (Error::TokenInvalid, 404, "token_invalid", &[]),
        (Error::NotOrgMember, 403, "not_org_member", &[]),
        (
            Error::FeatureDisabled("api_keys"),
            403,
            "feature_disabled",
            &["feature"],
        ),
        (Error::LastOwner, 409, "last_owner", &[]),
        (Error::NotFound, 404, "not_found", &[]),
        (
            Error::RateLimited {
                retry_after_secs: 7,
            },
            429,
            "rate_limited",
            &[],
        ),
        (Error::Conflict("taken".into()), 409, "conflict", &[]),
        (Error::SetupTokenInvalid, 404, "setup_token_invalid", &[]),
        (Error::AccountDisabled, 403, "account_disabled", &[]),
        (
            Error::Sso {
                code: SsoFailure::ProviderFailed,
                message: "down".into(),
            },
            502,
            "sso_provider_failed",
            &[],
        ),
        (
            Error::Sso {
                code: SsoFailure::StateInvalid,
                message: "stale".into(),
            },
            400,
            "sso_state_invalid",
            &[],
        ),
        (
            Error::MfaRequired {
                challenge: crate::crypto::Secret::new("c".to_string()),
                expires_in: 300,
                methods: Methods {
                    totp: true,
                    passkey: false,
                },
            },
            401,
            "mfa_required",
            &["challenge", "expires_in", "methods"],
        ),
        (
            Error::TwoStep {
                code: "two_step_code_invalid",
                message: "wrong".into(),
            },
            401,
            "two_step_code_invalid",
            &[],
        ),
        (
            Error::TwoStep {
                code: "two_step_required",
                message: "turn it on".into(),
            },
            403,
            "two_step_required",
            &[],
        ),
        (
            Error::BillingUnavailable { contact: None },
            503,
            "billing_unavailable",
            &["billing_contact_email"],
        ),
        (
            Error::SchemaTooNew {
                found: 9,
                supported: 8,
            },
            500,
            "internal",
            &[],
        ),
        (Error::Config("bad".into()), 500, "internal", &[]),
        (Error::Internal("secret cause".into()), 500, "internal", &[]),
    ]
}

#[test]
fn every_variant_maps_to_a_status_code_and_its_members() {
    let mut seen = [false; VARIANTS];
    for (e, status, code, members) in table() {
        seen[variant(&e)] = true;
        let p = Problem::of(&e);
        assert_eq!((p.status, p.code), (status, code), "{e:?}");
        assert!(!p.title.is_empty() && !p.detail.is_empty(), "{e:?}");
        let keys: Vec<&str> = p.extensions.keys().map(String::as_str).collect();
        let mut want = members.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want, "{e:?}");
        let doc = p.document();
        assert_eq!(doc["code"], code);
        assert_eq!(doc["status"], status);
        assert_eq!(doc["type"], format!("https://tenantry.dev/problems/{code}"));
    }
    let missing: Vec<usize> = (0..VARIANTS).filter(|i| !seen[*i]).collect();
    assert!(missing.is_empty(), "variants without a sample: {missing:?}");
}

#[test]
fn internal_causes_stay_out_of_the_answer() {
    let p = Problem::of(&Error::Internal("disk /var/secret full".into()));
    assert!(p.is_internal());
    assert!(!p.document().to_string().contains("secret"));
}

#[test]
fn rate_limits_carry_retry_after_and_extra_members_replace() {
    let p = Problem::of(&Error::RateLimited {
        retry_after_secs: 7,
    });
    assert_eq!(p.retry_after, Some(7));
    let mut extra = Map::new();
    extra.insert("hint".into(), json!("wait"));
    let doc = p.with(extra).document();
    assert_eq!(doc["hint"], "wait");
    assert_eq!(doc["detail"], "too many attempts; try again in 7 seconds");
}
