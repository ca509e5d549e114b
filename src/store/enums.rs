//! The closed sets stored as TEXT (roles, statuses, themes, features…) read and written as
//! their domain enums. A value outside the set is a conversion error, which the store turns
//! into an internal error (logged): a corrupt row never falls back to a default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::domain::apikey::Scope;
use crate::domain::entities::InvoiceStatus;
use crate::domain::{
    Auth, CompanyRole, DomainClaimStatus, DomainVerifier, EmailStatus, Feature, FeatureSwitches,
    InvitationStatus, OrgRole, Theme,
};

/// A stored text that names no member of its set.
#[derive(Debug)]
pub(crate) struct UnknownText {
    /// The set, e.g. `organization role`.
    pub kind: &'static str,
    /// The stored value.
    pub value: String,
}

impl std::fmt::Display for UnknownText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored {} {:?} is not known", self.kind, self.value)
    }
}

impl std::error::Error for UnknownText {}

/// The conversion error for `value` read from column `col` as a `kind`.
pub(crate) fn unknown(col: usize, kind: &'static str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        Box::new(UnknownText {
            kind,
            value: value.to_string(),
        }),
    )
}

macro_rules! text_enum {
    ($($ty:ty => $kind:literal,)*) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = v.as_str()?;
                <$ty>::parse(s).ok_or_else(|| {
                    FromSqlError::Other(Box::new(UnknownText { kind: $kind, value: s.to_string() }))
                })
            }
        }
    )*};
}

text_enum! {
    OrgRole => "organization role",
    CompanyRole => "company role",
    InvitationStatus => "invitation status",
    Theme => "theme",
    Auth => "sign-in method",
    Feature => "feature",
    Scope => "API key scope",
    DomainClaimStatus => "domain claim status",
    EmailStatus => "email status",
    InvoiceStatus => "invoice status",
}

impl ToSql for DomainVerifier {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_stored()))
    }
}

impl FromSql for DomainVerifier {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        DomainVerifier::parse(s).ok_or_else(|| {
            FromSqlError::Other(Box::new(UnknownText {
                kind: "domain verifier",
                value: s.to_string(),
            }))
        })
    }
}

impl ToSql for FeatureSwitches {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_stored()))
    }
}

impl FromSql for FeatureSwitches {
    fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = v.as_str()?;
        FeatureSwitches::from_stored(s).ok_or_else(|| {
            FromSqlError::Other(Box::new(UnknownText {
                kind: "feature switches",
                value: s.to_string(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DomainProof, OrgId, UserId};
    use crate::error::Error;
    use crate::store::Store;
    use rusqlite::Connection;

    /// A store in a fresh directory, removed when dropped.
    struct TempStore(std::path::PathBuf, Option<Store>);

    impl TempStore {
        fn new(name: &str) -> TempStore {
            let dir = std::env::temp_dir().join(format!(
                "tenantry-enums-{name}-{}-{}",
                std::process::id(),
                crate::crypto::new_id("t")
            ));
            let store = Store::open(&dir).unwrap();
            TempStore(dir, Some(store))
        }
        fn store(&self) -> &Store {
            self.1.as_ref().unwrap()
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            self.1.take();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn is_internal(r: crate::error::Result<impl std::fmt::Debug>, what: &str) {
        match r {
            Err(Error::Internal(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("expected an internal error naming {what}, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_rows_are_errors_not_defaults() {
        let t = TempStore::new("corrupt");
        let (org, user) = (
            OrgId::from_trusted("org_c".into()),
            UserId::from_trusted("usr_c".into()),
        );
        t.store()
            .write(|tx| {
                tx.0.execute_batch(
                    "PRAGMA ignore_check_constraints = ON;
                     INSERT INTO users (id, email, name, created_at, updated_at)
                       VALUES ('usr_c', 'c@example.com', 'C', 1, 1);
                     INSERT INTO organizations (id, name, slug, features, created_at, updated_at)
                       VALUES ('org_c', 'C', 'c', '{\"sso\": \"yes\"}', 1, 1);
                     INSERT INTO org_members (org_id, user_id, role, all_companies, created_at)
                       VALUES ('org_c', 'usr_c', 'superowner', 1, 1);
                     INSERT INTO invitations (id, org_id, email, role, inviter_name, token_hash,
                       status, created_at, expires_at)
                       VALUES ('inv_c', 'org_c', 'd@example.com', 'superowner', 'C', X'01',
                       'pending', 1, 2);
                     INSERT INTO invitations (id, org_id, email, role, inviter_name, token_hash,
                       status, created_at, expires_at)
                       VALUES ('inv_d', 'org_c', 'e@example.com', 'member', 'C', X'02',
                       'lost', 1, 2);
                     INSERT INTO outbox (recipient, subject, template, status, next_attempt_at,
                       created_at)
                       VALUES ('f@example.com', 'S', 'welcome', 'bounced', 1, 1);
                     INSERT INTO invoices (id, org_id, number, issued_on, amount_cents, currency,
                       status, created_at)
                       VALUES ('ivc_c', 'org_c', 'N-1', '2026-01-01', 100, 'EUR', 'overdue', 1);
                     INSERT INTO sso_connections (org_id, plugin, created_at, updated_at)
                       VALUES ('org_c', 'idp', 1, 1);
                     INSERT INTO sso_domain_claims (org_id, domain, token, status, verified_at,
                       verified_by, created_at)
                       VALUES ('org_c', 'c.example', 't', 'verified', 1, 'robot', 1);
                     PRAGMA ignore_check_constraints = OFF;",
                )
                .map_err(super::super::db_err)
            })
            .unwrap();
        // Before: the role read as `member`, the features as all defaults.
        is_internal(
            t.store().read(|c| c.membership(&org, &user)),
            "organization role \"superowner\"",
        );
        is_internal(t.store().read(|c| c.org_features(&org)), "feature switches");
        is_internal(
            t.store().read(|c| c.invitation_by_token(&[1])),
            "organization role \"superowner\"",
        );
        is_internal(
            t.store().read(|c| c.invitation_by_token(&[2])),
            "invitation status \"lost\"",
        );
        is_internal(
            t.store().read(|c| c.recent_emails(10)),
            "email status \"bounced\"",
        );
        is_internal(
            t.store().read(|c| c.email_status_counts()),
            "email status \"bounced\"",
        );
        // Before: an invoice status outside the set was shown as `Unknown`; a domain proven
        // by an unknown verifier as approved by an instance administrator.
        is_internal(
            t.store().read(|c| c.list_invoices(&org, None, 10)),
            "invoice status \"overdue\"",
        );
        is_internal(
            t.store().read(|c| c.sso_connection(&org)),
            "domain verifier \"robot\"",
        );
    }

    fn roundtrip<T: ToSql + FromSql + PartialEq + std::fmt::Debug>(conn: &Connection, v: T) {
        let back: T = conn.query_row("SELECT ?1", [&v], |r| r.get(0)).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn every_value_roundtrips_as_its_text() {
        let conn = Connection::open_in_memory().unwrap();
        for r in OrgRole::ALL {
            roundtrip(&conn, r);
            let text: String = conn.query_row("SELECT ?1", [&r], |x| x.get(0)).unwrap();
            assert_eq!(text, r.as_str());
        }
        for r in CompanyRole::ALL {
            roundtrip(&conn, r);
        }
        for s in InvitationStatus::ALL {
            roundtrip(&conn, s);
        }
        for t in [Theme::System, Theme::Light, Theme::Dark] {
            roundtrip(&conn, t);
        }
        for a in [Auth::Password, Auth::Sso] {
            roundtrip(&conn, a);
        }
        for f in Feature::ALL {
            roundtrip(&conn, f);
        }
        for s in Scope::ALL {
            roundtrip(&conn, *s);
        }
        for s in [DomainClaimStatus::Pending, DomainClaimStatus::Verified] {
            roundtrip(&conn, s);
        }
        for s in InvoiceStatus::ALL {
            roundtrip(&conn, s);
            let text: String = conn.query_row("SELECT ?1", [&s], |x| x.get(0)).unwrap();
            assert_eq!(text, s.as_str());
        }
        for v in [
            DomainVerifier::Dns,
            DomainVerifier::InstanceAdmin(None),
            DomainVerifier::InstanceAdmin(Some(UserId::from_trusted("usr_a".into()))),
            DomainVerifier::Operator,
        ] {
            roundtrip(&conn, v);
        }
        for (stored, method) in [
            ("dns", DomainProof::Dns),
            ("admin:usr_a", DomainProof::InstanceAdmin),
            ("admin", DomainProof::InstanceAdmin),
            ("cli", DomainProof::InstanceAdmin),
        ] {
            let v: DomainVerifier = conn.query_row("SELECT ?1", [stored], |r| r.get(0)).unwrap();
            assert_eq!((v.to_stored().as_str(), v.method()), (stored, method));
        }
        for s in EmailStatus::ALL {
            roundtrip(&conn, s);
            let text: String = conn.query_row("SELECT ?1", [&s], |x| x.get(0)).unwrap();
            assert_eq!(text, s.as_str());
        }
        let mut f = FeatureSwitches::default();
        roundtrip(&conn, f);
        f.set(Feature::Billing, false);
        roundtrip(&conn, f);
    }

    #[test]
    fn an_unknown_text_is_an_error_not_a_default() {
        let conn = Connection::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'superuser'", [], |r| r.get::<_, OrgRole>(0))
            .unwrap_err();
        assert!(
            err.to_string().contains("organization role \"superuser\""),
            "{err}"
        );
        assert!(conn
            .query_row("SELECT 'Owner'", [], |r| r.get::<_, OrgRole>(0))
            .is_err());
        assert!(conn
            .query_row("SELECT 'root'", [], |r| r.get::<_, CompanyRole>(0))
            .is_err());
        assert!(conn
            .query_row("SELECT 'done'", [], |r| r.get::<_, InvitationStatus>(0))
            .is_err());
        assert!(conn
            .query_row("SELECT 'neon'", [], |r| r.get::<_, Theme>(0))
            .is_err());
        assert!(conn
            .query_row("SELECT 'ldap'", [], |r| r.get::<_, Auth>(0))
            .is_err());
        let err = conn
            .query_row("SELECT 'bounced'", [], |r| r.get::<_, EmailStatus>(0))
            .unwrap_err();
        assert!(
            err.to_string().contains("email status \"bounced\""),
            "{err}"
        );
        assert!(conn
            .query_row("SELECT 7", [], |r| r.get::<_, OrgRole>(0))
            .is_err());
        assert!(conn
            .query_row("SELECT '{\"sso\":1}'", [], |r| r
                .get::<_, FeatureSwitches>(0))
            .is_err());
    }
}
