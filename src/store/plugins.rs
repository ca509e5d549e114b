//! Plugin key-value storage, SSO connections, sign-in flows and linked identities, and
//! billing sources.

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::{DomainClaimStatus, DomainVerifier, OrgId, OrgRole, UserId};
use crate::error::{Error, Result};

/// An organization's SSO connection.
#[derive(Clone, Debug)]
pub struct SsoConnectionRow {
    /// Plugin name.
    pub plugin: String,
    /// Role given on first sign-in, when joining is on.
    pub join_role: Option<OrgRole>,
    /// Email domains claimed by this connection, sorted.
    pub domains: Vec<SsoDomainRow>,
    /// Last change (unix seconds).
    pub updated_at: i64,
}

/// One domain claimed by an organization's SSO.
#[derive(Clone, Debug)]
pub struct SsoDomainRow {
    /// Lower-case ASCII domain.
    pub domain: String,
    /// The value the TXT record must carry (not a secret).
    pub token: String,
    /// Whether ownership was proven (by DNS or an instance administrator).
    pub verified: bool,
    /// When it was proven (unix seconds).
    pub verified_at: Option<i64>,
    /// Who proved it (stored as `dns`, `admin:<user id>` or `cli`).
    pub verified_by: Option<DomainVerifier>,
}

/// A sign-in in progress.
#[derive(Clone, Debug)]
pub struct SsoFlowRow {
    /// The organization whose connection started it.
    pub org_id: OrgId,
    /// Plugin name.
    pub plugin: String,
    /// Nonce given to the plugin.
    pub nonce: String,
    /// Sealed plugin flow data.
    pub flow_data: Vec<u8>,
    /// Hash of the browser-binding cookie.
    pub browser_hash: Vec<u8>,
    /// Where to go after sign-in.
    pub next: Option<String>,
    /// The address the sign-in was started for.
    pub login_hint: Option<String>,
    /// Expiry (unix seconds).
    pub expires_at: i64,
}

/// What signing out at the identity provider needs for one session.
#[derive(Clone, Debug)]
pub struct SsoSessionRow {
    /// The organization whose single sign-on started the session.
    pub org_id: OrgId,
    /// Plugin name.
    pub plugin: String,
    /// Sealed plugin sign-out data.
    pub sign_out_data: Vec<u8>,
}

/// A new sign-in flow.
pub struct NewSsoFlow<'a> {
    /// Hash of the state.
    pub state_hash: &'a [u8],
    /// The flow.
    pub flow: &'a SsoFlowRow,
    /// Now (unix seconds).
    pub now: i64,
}

impl Conn<'_> {
    /// A plugin's stored value.
    pub fn plugin_kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.0
            .prepare_cached("SELECT value FROM plugin_kv WHERE plugin = ?1 AND key = ?2")
            .map_err(db_err)?
            .query_row([plugin, key], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }

    /// The SSO connection of an organization.
    pub fn sso_connection(&self, org: &OrgId) -> Result<Option<SsoConnectionRow>> {
        let row = self
            .0
            .prepare_cached(
                "SELECT plugin, join_role, updated_at FROM sso_connections WHERE org_id = ?1",
            )
            .map_err(db_err)?
            .query_row([org.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(db_err)?;
        let Some((plugin, join_role, updated_at)) = row else {
            return Ok(None);
        };
        let domains = self
            .0
            .prepare_cached(
                "SELECT domain, token, status, verified_at, verified_by FROM sso_domain_claims \
                 WHERE org_id = ?1 ORDER BY domain",
            )
            .map_err(db_err)?
            .query_map([org.as_str()], |r| {
                Ok(SsoDomainRow {
                    domain: r.get(0)?,
                    token: r.get(1)?,
                    verified: r.get::<_, DomainClaimStatus>(2)? == DomainClaimStatus::Verified,
                    verified_at: r.get(3)?,
                    verified_by: r.get(4)?,
                })
            })
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)?;
        Ok(Some(SsoConnectionRow {
            plugin,
            join_role,
            domains,
            updated_at,
        }))
    }

    /// The organization that proved it owns an email domain for its SSO (pending claims
    /// route nothing).
    pub fn sso_org_for_domain(&self, domain: &str) -> Result<Option<OrgId>> {
        self.0
            .prepare_cached(
                "SELECT org_id FROM sso_domain_claims WHERE domain = ?1 AND status = 'verified'",
            )
            .map_err(db_err)?
            .query_row([domain], |r| r.get::<_, String>(0))
            .optional()
            .map_err(db_err)
            .map(|o| o.map(OrgId::from_trusted))
    }

    /// The plugin serving an organization's billing data, if any, and only while the
    /// organization may use that plugin (otherwise the stored data is served).
    pub fn billing_source(&self, org: &OrgId) -> Result<Option<String>> {
        self.0
            .prepare_cached(
                "SELECT b.plugin FROM billing_sources b JOIN org_plugins p \
                 ON p.org_id = b.org_id AND p.plugin = b.plugin WHERE b.org_id = ?1",
            )
            .map_err(db_err)?
            .query_row([org.as_str()], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }
}

impl Conn<'_> {
    /// The plugin chosen as an organization's billing source, whether or not it is allowed.
    pub fn billing_source_configured(&self, org: &OrgId) -> Result<Option<String>> {
        self.0
            .prepare_cached("SELECT plugin FROM billing_sources WHERE org_id = ?1")
            .map_err(db_err)?
            .query_row([org.as_str()], |r| r.get(0))
            .optional()
            .map_err(db_err)
    }
}

macro_rules! org_plugin_reads {
    ($t:ty) => {
        impl $t {
            /// The plugins an organization may use, sorted.
            pub fn org_plugins(&self, org: &OrgId) -> Result<Vec<String>> {
                self.0
                    .prepare_cached(
                        "SELECT plugin FROM org_plugins WHERE org_id = ?1 ORDER BY plugin",
                    )
                    .map_err(db_err)?
                    .query_map([org.as_str()], |r| r.get(0))
                    .map_err(db_err)?
                    .collect::<rusqlite::Result<Vec<String>>>()
                    .map_err(db_err)
            }

            /// Whether an organization may use a plugin.
            pub fn org_plugin_allowed(&self, org: &OrgId, plugin: &str) -> Result<bool> {
                self.0
                    .prepare_cached("SELECT 1 FROM org_plugins WHERE org_id = ?1 AND plugin = ?2")
                    .map_err(db_err)?
                    .exists([org.as_str(), plugin])
                    .map_err(db_err)
            }
        }
    };
}
org_plugin_reads!(Conn<'_>);
org_plugin_reads!(Tx<'_>);

impl Tx<'_> {
    /// Replaces the set of plugins an organization may use.
    pub fn set_org_plugins(&self, org: &OrgId, plugins: &[String], now: i64) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM org_plugins WHERE org_id = ?1")
            .map_err(db_err)?
            .execute([org.as_str()])
            .map_err(db_err)?;
        for p in plugins {
            self.0
                .prepare_cached(
                    "INSERT INTO org_plugins (org_id, plugin, created_at) VALUES (?1, ?2, ?3)",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), p, now])
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// The organization that verified a domain, if any.
    pub fn sso_domain_verified_by_org(&self, domain: &str) -> Result<Option<OrgId>> {
        self.0
            .prepare_cached(
                "SELECT org_id FROM sso_domain_claims WHERE domain = ?1 AND status = 'verified'",
            )
            .map_err(db_err)?
            .query_row([domain], |r| r.get::<_, String>(0))
            .optional()
            .map_err(db_err)
            .map(|o| o.map(OrgId::from_trusted))
    }

    /// Marks an organization's claim of a domain as proven. False when it has no such claim;
    /// a `Conflict` when another organization already proved it.
    pub fn verify_sso_domain(
        &self,
        org: &OrgId,
        domain: &str,
        by: &DomainVerifier,
        now: i64,
    ) -> Result<bool> {
        if let Some(owner) = self.sso_domain_verified_by_org(domain)? {
            if &owner != org {
                return Err(Error::Conflict(format!(
                    "the domain {domain} is already verified by another organization's SSO"
                )));
            }
        }
        let n = self
            .0
            .prepare_cached(
                "UPDATE sso_domain_claims SET status = 'verified', verified_at = ?3, verified_by = ?4 \
                 WHERE org_id = ?1 AND domain = ?2 AND status = 'pending'",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), domain, now, by])
            .map_err(db_err)?;
        if n > 0 {
            return Ok(true);
        }
        // Already verified by this organization: nothing to do, still a success.
        self.0
            .prepare_cached("SELECT 1 FROM sso_domain_claims WHERE org_id = ?1 AND domain = ?2")
            .map_err(db_err)?
            .exists([org.as_str(), domain])
            .map_err(db_err)
    }

    /// The user a provider subject is linked to.
    pub fn identity_user(&self, plugin: &str, subject: &str) -> Result<Option<UserId>> {
        self.0
            .prepare_cached(
                "SELECT user_id FROM user_identities WHERE plugin = ?1 AND subject = ?2",
            )
            .map_err(db_err)?
            .query_row([plugin, subject], |r| r.get::<_, String>(0))
            .optional()
            .map_err(db_err)
            .map(|o| o.map(UserId::from_trusted))
    }

    /// Stores a plugin value; refuses a new key past `max_keys`.
    pub fn plugin_kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        max_keys: i64,
        now: i64,
    ) -> Result<std::result::Result<(), String>> {
        let exists: bool = self
            .0
            .prepare_cached("SELECT 1 FROM plugin_kv WHERE plugin = ?1 AND key = ?2")
            .map_err(db_err)?
            .exists([plugin, key])
            .map_err(db_err)?;
        if !exists {
            let n: i64 = self
                .0
                .prepare_cached("SELECT count(*) FROM plugin_kv WHERE plugin = ?1")
                .map_err(db_err)?
                .query_row([plugin], |r| r.get(0))
                .map_err(db_err)?;
            if n >= max_keys {
                return Ok(Err(format!("a plugin holds at most {max_keys} keys")));
            }
        }
        self.0
            .prepare_cached(
                "INSERT INTO plugin_kv (plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![plugin, key, value, now])
            .map_err(db_err)?;
        Ok(Ok(()))
    }

    /// Removes a plugin value.
    pub fn plugin_kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM plugin_kv WHERE plugin = ?1 AND key = ?2")
            .map_err(db_err)?
            .execute([plugin, key])
            .map_err(db_err)?;
        Ok(())
    }

    /// Creates or replaces an organization's SSO connection and its domain claims. A claim
    /// kept from before keeps its token and status; a new one starts `pending` with the
    /// given token; a dropped one is deleted. A domain another organization has verified is
    /// a `Conflict` naming it.
    pub fn put_sso_connection(
        &self,
        org: &OrgId,
        plugin: &str,
        join_role: Option<OrgRole>,
        domains: &[(String, String)],
        now: i64,
    ) -> Result<()> {
        for (d, _) in domains {
            if self
                .sso_domain_verified_by_org(d)?
                .is_some_and(|o| &o != org)
            {
                return Err(Error::Conflict(format!(
                    "the domain {d} is already used by another organization's SSO"
                )));
            }
        }
        self.0
            .prepare_cached(
                "INSERT INTO sso_connections (org_id, plugin, join_role, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (org_id) DO UPDATE SET \
                 plugin = excluded.plugin, join_role = excluded.join_role, updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![org.as_str(), plugin, join_role, now])
            .map_err(db_err)?;
        let keep: Vec<&str> = domains.iter().map(|(d, _)| d.as_str()).collect();
        let existing: Vec<String> = self
            .0
            .prepare_cached("SELECT domain FROM sso_domain_claims WHERE org_id = ?1")
            .map_err(db_err)?
            .query_map([org.as_str()], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(db_err)?;
        for d in existing.iter().filter(|d| !keep.contains(&d.as_str())) {
            self.0
                .prepare_cached("DELETE FROM sso_domain_claims WHERE org_id = ?1 AND domain = ?2")
                .map_err(db_err)?
                .execute([org.as_str(), d])
                .map_err(db_err)?;
        }
        for (d, token) in domains {
            self.0
                .prepare_cached(
                    "INSERT INTO sso_domain_claims (org_id, domain, token, status, created_at) \
                     VALUES (?1, ?2, ?3, 'pending', ?4) ON CONFLICT (org_id, domain) DO NOTHING",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), d, token, now])
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Removes an organization's SSO connection; false when there was none.
    pub fn delete_sso_connection(&self, org: &OrgId) -> Result<bool> {
        let n = self
            .0
            .execute(
                "DELETE FROM sso_connections WHERE org_id = ?1",
                [org.as_str()],
            )
            .map_err(db_err)?;
        Ok(n > 0)
    }

    /// Records a sign-in in progress (and drops expired ones).
    pub fn insert_sso_flow(&self, f: NewSsoFlow<'_>) -> Result<()> {
        self.0
            .prepare_cached("DELETE FROM sso_flows WHERE expires_at <= ?1")
            .map_err(db_err)?
            .execute([f.now])
            .map_err(db_err)?;
        let flow = f.flow;
        self.0
            .prepare_cached(
                "INSERT INTO sso_flows (state_hash, org_id, plugin, nonce, flow_data, browser_hash, next, created_at, expires_at, login_hint) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(db_err)?
            .execute(params![
                f.state_hash,
                flow.org_id.as_str(),
                flow.plugin,
                flow.nonce,
                flow.flow_data,
                flow.browser_hash,
                flow.next,
                f.now,
                flow.expires_at,
                flow.login_hint
            ])
            .map_err(db_err)?;
        Ok(())
    }

    /// Takes (deletes and returns) a flow by its state hash: each state works once.
    pub fn take_sso_flow(&self, state_hash: &[u8]) -> Result<Option<SsoFlowRow>> {
        let row = self
            .0
            .prepare_cached(
                "DELETE FROM sso_flows WHERE state_hash = ?1 \
                 RETURNING org_id, plugin, nonce, flow_data, browser_hash, next, expires_at, login_hint",
            )
            .map_err(db_err)?
            .query_row([state_hash], |r| {
                Ok(SsoFlowRow {
                    org_id: OrgId::from_trusted(r.get(0)?),
                    plugin: r.get(1)?,
                    nonce: r.get(2)?,
                    flow_data: r.get(3)?,
                    browser_hash: r.get(4)?,
                    next: r.get(5)?,
                    expires_at: r.get(6)?,
                    login_hint: r.get(7)?,
                })
            })
            .optional()
            .map_err(db_err)?;
        Ok(row)
    }

    /// Keeps what signing out at the provider needs for the session `token_hash`.
    pub fn insert_sso_session(
        &self,
        token_hash: &[u8],
        row: &SsoSessionRow,
        now: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT OR REPLACE INTO sso_sessions (token_hash, org_id, plugin, sign_out_data, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(db_err)?
            .execute(params![
                token_hash,
                row.org_id.as_str(),
                row.plugin,
                row.sign_out_data,
                now
            ])
            .map_err(db_err)?;
        Ok(())
    }

    /// Takes (deletes and returns) the sign-out data of session `token_hash`.
    pub fn take_sso_session(&self, token_hash: &[u8]) -> Result<Option<SsoSessionRow>> {
        self.0
            .prepare_cached(
                "DELETE FROM sso_sessions WHERE token_hash = ?1 \
                 RETURNING org_id, plugin, sign_out_data",
            )
            .map_err(db_err)?
            .query_row([token_hash], |r| {
                Ok(SsoSessionRow {
                    org_id: OrgId::from_trusted(r.get(0)?),
                    plugin: r.get(1)?,
                    sign_out_data: r.get(2)?,
                })
            })
            .optional()
            .map_err(db_err)
    }

    /// Links a provider subject to a user.
    pub fn link_identity(
        &self,
        plugin: &str,
        subject: &str,
        user: &UserId,
        now: i64,
    ) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO user_identities (plugin, subject, user_id, created_at, last_used_at) VALUES (?1, ?2, ?3, ?4, ?4) \
                 ON CONFLICT (plugin, subject) DO UPDATE SET last_used_at = excluded.last_used_at",
            )
            .map_err(db_err)?
            .execute(params![plugin, subject, user.as_str(), now])
            .map_err(db_err)?;
        Ok(())
    }

    /// Marks a user as signing in through SSO (no password here from now on).
    pub fn make_user_sso(&self, user: &UserId, plugin: &str, now: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "UPDATE users SET auth = 'sso', sso_provider = ?2, password_hash = NULL, \
                 email_verified = 1, updated_at = ?3 WHERE id = ?1",
            )
            .map_err(db_err)?
            .execute(params![user.as_str(), plugin, now])
            .map_err(db_err)?;
        Ok(())
    }

    /// Serves an organization's billing data from a plugin, or (None) from the stored data.
    pub fn set_billing_source(&self, org: &OrgId, plugin: Option<&str>, now: i64) -> Result<()> {
        match plugin {
            Some(p) => self
                .0
                .prepare_cached(
                    "INSERT INTO billing_sources (org_id, plugin, updated_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (org_id) DO UPDATE SET plugin = excluded.plugin, updated_at = excluded.updated_at",
                )
                .map_err(db_err)?
                .execute(params![org.as_str(), p, now]),
            None => self
                .0
                .prepare_cached("DELETE FROM billing_sources WHERE org_id = ?1")
                .map_err(db_err)?
                .execute([org.as_str()]),
        }
        .map_err(db_err)?;
        Ok(())
    }
}
