//! The data of each email, typed: one variant per message kind, so the template a message
//! is rendered with and the values it gets are chosen together, and a test renders every
//! template (in strict mode) with the values its message really carries.

use serde::Serialize;

/// Who an account email is for, and the one link it carries.
#[derive(Serialize, Debug, Clone)]
pub struct Account<'a> {
    /// The person's display name.
    pub name: &'a str,
    /// The account's address.
    pub email: &'a str,
    /// The link to follow.
    pub link: &'a str,
}

/// An email, by kind, with the values its template uses.
#[derive(Serialize, Debug, Clone)]
#[serde(untagged)]
pub enum Message<'a> {
    /// An invitation to an organization or a company.
    Invitation {
        /// Who invited.
        inviter_name: &'a str,
        /// The organization's or company's name.
        target_name: &'a str,
        /// The role offered.
        role: &'a str,
        /// The company access offered, in words (empty for none).
        access: &'a str,
        /// The invitation link.
        link: &'a str,
        /// The invited address.
        email: &'a str,
        /// When the link expires (RFC 3339).
        expires: &'a str,
    },
    /// A link to choose a new password.
    PasswordReset(Account<'a>),
    /// The password was changed (link: where to sign in or reset again).
    PasswordChanged(Account<'a>),
    /// A link to confirm the account's address.
    EmailVerification(Account<'a>),
    /// Sent to a new address: a link that makes it the sign-in address.
    EmailChange {
        /// The person's display name.
        name: &'a str,
        /// The new address.
        email: &'a str,
        /// The current address.
        old_email: &'a str,
        /// The confirmation link.
        link: &'a str,
    },
    /// Sent to the old address after a change.
    EmailChanged {
        /// The person's display name.
        name: &'a str,
        /// The old address.
        email: &'a str,
        /// The new address, partly masked.
        new_email_masked: &'a str,
        /// Where to act if it was not them.
        link: &'a str,
    },
    /// Two-step sign-in was turned on, off or reset.
    TwoStepChanged {
        /// The person's display name.
        name: &'a str,
        /// The account's address.
        email: &'a str,
        /// What changed, in words.
        what: &'a str,
        /// The security settings page.
        link: &'a str,
    },
    /// An organization now requires two-step sign-in.
    TwoStepRequired {
        /// The person's display name.
        name: &'a str,
        /// The organization's name.
        org: &'a str,
        /// From when it is enforced (`YYYY-MM-DD HH:MM`, UTC), if known.
        deadline: Option<&'a str>,
        /// The security settings page.
        link: &'a str,
    },
    /// The account was linked to an organization's single sign-on.
    SsoLinked {
        /// The person's display name.
        name: &'a str,
        /// The account's address.
        email: &'a str,
        /// The organization's name.
        org_name: &'a str,
        /// The sign-in page.
        link: &'a str,
    },
}

impl Message<'_> {
    /// The template (and outbox kind) of this message: a name of `EMAIL_TEMPLATES`.
    pub fn template(&self) -> &'static str {
        match self {
            Message::Invitation { .. } => "invitation",
            Message::PasswordReset(_) => "password_reset",
            Message::PasswordChanged(_) => "password_changed",
            Message::EmailVerification(_) => "email_verification",
            Message::EmailChange { .. } => "email_change",
            Message::EmailChanged { .. } => "email_changed",
            Message::TwoStepChanged { .. } => "two_step_changed",
            Message::TwoStepRequired { .. } => "two_step_required",
            Message::SsoLinked { .. } => "sso_linked",
        }
    }
}
