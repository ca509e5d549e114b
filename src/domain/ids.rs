//! Newtype IDs. An ID is an opaque string with a type prefix (`usr_…`); parsing checks the
//! prefix and the alphabet so a malformed ID is rejected before any query runs.

use std::fmt;

/// Checks that `s` looks like `{prefix}_{26 chars of the ID alphabet}`.
pub fn is_well_formed(s: &str, prefix: &str) -> bool {
    let Some(rest) = s.strip_prefix(prefix).and_then(|r| r.strip_prefix('_')) else {
        return false;
    };
    rest.len() == 26
        && rest.bytes().all(|b| {
            b.is_ascii_digit()
                || (b.is_ascii_lowercase() && !matches!(b, b'i' | b'l' | b'o' | b'u'))
        })
}

macro_rules! id_type {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The type prefix of this ID.
            pub const PREFIX: &'static str = $prefix;
            /// A fresh random ID.
            pub fn generate() -> Self {
                $name(crate::crypto::new_id($prefix))
            }
            /// Parses an ID from untrusted input; `None` when malformed.
            pub fn parse(s: &str) -> Option<Self> {
                is_well_formed(s, $prefix).then(|| $name(s.to_string()))
            }
            /// Wraps an ID read back from the database.
            pub fn from_trusted(s: String) -> Self {
                $name(s)
            }
            /// The ID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(UserId, "usr", "A user ID (`usr_…`).");
id_type!(OrgId, "org", "An organization ID (`org_…`).");
id_type!(CompanyId, "cmp", "A company ID (`cmp_…`).");
id_type!(SiteId, "site", "A site ID (`site_…`).");
id_type!(InvoiceId, "ivc", "An invoice ID (`ivc_…`).");
id_type!(EventId, "evt", "An audit event ID (`evt_…`).");
id_type!(KeyId, "key", "An API key ID (`key_…`).");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_prefix_and_shape() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        assert!(UserId::parse("org_0123456789abcdefghjkmnpqrs").is_none());
        assert!(UserId::parse("usr_short").is_none());
        assert!(UserId::parse("usr_0123456789ABCDEFGHJKMNPQRS").is_none());
    }
}
