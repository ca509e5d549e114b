//! A normalised email address: trimmed, lower-cased, IDN domain in its ASCII form, compared
//! by its normalised form everywhere; and the delivery status of an outbox message.

use std::fmt;

/// Where a message of the outbox is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    /// Waiting for (another) attempt.
    Queued,
    /// Being handed to the transport now.
    Sending,
    /// Delivered (its body erased).
    Sent,
    /// Given up (permanent refusal, too many attempts, superseded).
    Failed,
    /// Kept in `outbox` mode, never sent.
    Held,
}

impl EmailStatus {
    /// Every status.
    pub const ALL: [EmailStatus; 5] = [
        EmailStatus::Queued,
        EmailStatus::Sending,
        EmailStatus::Sent,
        EmailStatus::Failed,
        EmailStatus::Held,
    ];

    /// The stored / wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Queued => "queued",
            EmailStatus::Sending => "sending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
            EmailStatus::Held => "held",
        }
    }

    /// Whether the message is still to be delivered (the outbox backlog).
    pub fn awaits_delivery(self) -> bool {
        match self {
            EmailStatus::Queued | EmailStatus::Sending => true,
            EmailStatus::Sent | EmailStatus::Failed | EmailStatus::Held => false,
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<EmailStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An email address that passed validation and normalisation once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates and normalises an address. The error is a lowercase hint for the caller.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("must not be empty");
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters");
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters");
        }
        let (local, domain) = s.rsplit_once('@').ok_or("must contain @")?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("has an invalid local part");
        }
        if local.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"']) {
            return Err("has an invalid local part");
        }
        let domain = domain_to_ascii(domain).ok_or("has an invalid domain")?;
        Ok(Email(format!("{}@{}", local.to_lowercase(), domain)))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps an address read back from the database (already normalised).
    pub fn from_trusted(s: String) -> Email {
        Email(s)
    }

    /// The domain part.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lower-cases a domain and converts Unicode labels to their `xn--` form (UTS #46 through
/// the `idna` crate, the processing browsers and mail systems apply), then keeps only
/// hostnames: letters, digits and inner hyphens, at least two labels.
pub fn domain_to_ascii(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.len() > 253 || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    // Hyphens checked at the ends only: `ab--cd` is a valid (if rare) DNS label.
    let ascii = Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Verify,
        )
        .ok()?
        .into_owned();
    if ascii.len() > 253 {
        return None;
    }
    let mut labels = 0;
    for label in ascii.split('.') {
        if label.is_empty()
            || label.len() > 63
            || label.starts_with('-')
            || label.ends_with('-')
            || !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return None;
        }
        labels += 1;
    }
    (labels >= 2).then_some(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn idn_domain_becomes_ascii() {
        assert_eq!(
            Email::parse("a@bücher.example").unwrap().as_str(),
            "a@xn--bcher-kva.example"
        );
        assert_eq!(
            Email::parse("x@münchen.de").unwrap().domain(),
            "xn--mnchen-3ya.de"
        );
        assert_eq!(
            Email::parse("a@BÜCHER.Example").unwrap().as_str(),
            "a@xn--bcher-kva.example"
        );
    }

    /// Issue 14: UTS #46 mapping, which the hand-written Punycode encoder lacked: full-width
    /// letters and compatibility characters map to their plain form before encoding, and
    /// labels that are not valid IDNA are refused instead of encoded.
    #[test]
    fn idn_domain_follows_uts46() {
        assert_eq!(
            Email::parse("a@ｅｘａｍｐｌｅ.com").unwrap().as_str(),
            "a@example.com"
        );
        assert_eq!(
            Email::parse("a@straße.de").unwrap().domain(),
            "xn--strae-oqa.de"
        );
        assert!(Email::parse("a@xn--a.com").is_err(), "bad punycode label");
        assert!(Email::parse("a@exa_mple.com").is_err());
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "no-at",
            "a@b",
            "a b@c.de",
            "a@c.de\r\nBcc: x@y.z",
            "@c.de",
            "a@-c.de",
            "a@c..de",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
