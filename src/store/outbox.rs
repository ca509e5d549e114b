//! The persistent email outbox.

use rusqlite::{params, OptionalExtension};

use super::{db_err, Conn, Tx};
use crate::domain::EmailStatus;
use crate::error::Result;

/// A message as the delivery worker sees it.
#[derive(Clone, Debug)]
pub struct OutboxRow {
    /// Row ID.
    pub id: i64,
    /// Recipient address.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Template name.
    pub template: String,
    /// Sealed body, if not yet delivered.
    pub sealed_body: Option<Vec<u8>>,
    /// Status.
    pub status: EmailStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt time.
    pub next_attempt_at: i64,
    /// Last error.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: i64,
    /// Delivered at.
    pub sent_at: Option<i64>,
}

const COLS: &str = "id, recipient, subject, template, sealed_body, status, attempts, next_attempt_at, last_error, created_at, sent_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        recipient: r.get(1)?,
        subject: r.get(2)?,
        template: r.get(3)?,
        sealed_body: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        sent_at: r.get(10)?,
    })
}

impl Tx<'_> {
    /// Queues a message; returns its ID.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_email(
        &self,
        recipient: &str,
        subject: &str,
        template: &str,
        sealed_body: &[u8],
        status: EmailStatus,
        now: i64,
        invitation_id: Option<&str>,
    ) -> Result<i64> {
        self.0
            .prepare_cached(
                "INSERT INTO outbox (recipient, subject, template, sealed_body, status, attempts, next_attempt_at, created_at, invitation_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6, ?7)",
            )
            .map_err(db_err)?
            .execute(params![recipient, subject, template, sealed_body, status, now, invitation_id])
            .map_err(db_err)?;
        Ok(self.0.last_insert_rowid())
    }

    /// Claims the next due message (status `sending`, one more attempt).
    pub fn claim_due_email(&self, now: i64) -> Result<Option<OutboxRow>> {
        let found = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM outbox WHERE status = 'queued' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT 1"
            ))
            .map_err(db_err)?
            .query_row([now], row)
            .optional()
            .map_err(db_err)?;
        if let Some(m) = &found {
            self.0
                .execute(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id = ?1",
                    [m.id],
                )
                .map_err(db_err)?;
        }
        Ok(found.map(|mut m| {
            m.attempts += 1;
            m
        }))
    }

    /// Records a delivery: body erased.
    pub fn email_sent(&self, id: i64, now: i64) -> Result<()> {
        self.0
            .execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?2, sealed_body = NULL, last_error = NULL WHERE id = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Schedules a retry.
    pub fn email_retry(&self, id: i64, at: i64, error: &str) -> Result<()> {
        self.0
            .execute(
                "UPDATE outbox SET status = 'queued', next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, at, error],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Gives up: the error is kept, and so is the sealed body, so that an instance
    /// administrator can retry the message (it is erased once delivered).
    pub fn email_failed(&self, id: i64, error: &str) -> Result<()> {
        self.0
            .execute(
                "UPDATE outbox SET status = 'failed', last_error = ?2 WHERE id = ?1",
                params![id, error],
            )
            .map_err(db_err)?;
        Ok(())
    }

    /// Puts a failed message whose body is still stored back in the queue, due now, with its
    /// attempts reset.
    pub fn retry_failed_email(&self, id: i64, now: i64) -> Result<RetryOutcome> {
        let found: Option<(EmailStatus, bool, Option<String>)> = self
            .0
            .prepare_cached(
                "SELECT status, sealed_body IS NOT NULL, invitation_id FROM outbox WHERE id = ?1",
            )
            .map_err(db_err)?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(db_err)?;
        Ok(match found {
            None => RetryOutcome::NotFound,
            Some((
                EmailStatus::Queued | EmailStatus::Sending | EmailStatus::Sent | EmailStatus::Held,
                _,
                _,
            )) => RetryOutcome::NotFailed,
            Some((EmailStatus::Failed, false, _)) => RetryOutcome::BodyErased,
            Some((EmailStatus::Failed, true, invitation_id)) => {
                self.0
                    .execute(
                        "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?2, last_error = NULL \
                         WHERE id = ?1 AND status = 'failed'",
                        params![id, now],
                    )
                    .map_err(db_err)?;
                RetryOutcome::Queued { invitation_id }
            }
        })
    }

    /// After a crash, messages caught mid-send go back to the queue (at-least-once).
    pub fn requeue_interrupted_emails(&self) -> Result<usize> {
        self.0
            .execute(
                "UPDATE outbox SET status = 'queued' WHERE status = 'sending'",
                [],
            )
            .map_err(db_err)
    }

    /// Stops delivery of the unsent messages of an invitation (its link is dead).
    pub fn cancel_invitation_emails(&self, invitation_id: &str) -> Result<()> {
        self.0
            .execute(
                "UPDATE outbox SET status = 'failed', sealed_body = NULL, last_error = 'superseded' \
                 WHERE invitation_id = ?1 AND status IN ('queued', 'held')",
                [invitation_id],
            )
            .map_err(db_err)?;
        Ok(())
    }
}

/// What asking to retry a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Queued again; the invitation it belongs to, if any.
    Queued {
        /// The invitation of the message.
        invitation_id: Option<String>,
    },
    /// No such message.
    NotFound,
    /// The message has not failed (it is queued, being sent, sent or held).
    NotFailed,
    /// Its body was erased (superseded or unreadable); it cannot be sent again.
    BodyErased,
}

impl Conn<'_> {
    /// How many messages are in each status (statuses with none are absent).
    pub fn email_status_counts(&self) -> Result<Vec<(EmailStatus, i64)>> {
        let mut stmt = self
            .0
            .prepare_cached("SELECT status, count(*) FROM outbox GROUP BY status")
            .map_err(db_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// Failed messages with an ID below `before`, newest first; the flag says whether the
    /// body is still stored.
    pub fn failed_emails(&self, before: i64, limit: usize) -> Result<Vec<(OutboxRow, bool)>> {
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT id, recipient, subject, template, NULL, status, attempts, next_attempt_at, last_error, created_at, sent_at, \
                 sealed_body IS NOT NULL FROM outbox WHERE status = 'failed' AND id < ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![before, limit as i64], |r| Ok((row(r)?, r.get(11)?)))
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// The newest messages (development outbox page).
    pub fn recent_emails(&self, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut stmt = self
            .0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM outbox ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(db_err)?;
        let rows = stmt.query_map([limit as i64], row).map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    /// The latest message of an invitation (its delivery status).
    pub fn invitation_email(&self, invitation_id: &str) -> Result<Option<OutboxRow>> {
        self.0
            .prepare_cached(&format!(
                "SELECT {COLS} FROM outbox WHERE invitation_id = ?1 ORDER BY id DESC LIMIT 1"
            ))
            .map_err(db_err)?
            .query_row([invitation_id], row)
            .optional()
            .map_err(db_err)
    }
}
