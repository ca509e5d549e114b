//! A normalised email address: trimmed, lower-cased, IDN domain in its ASCII form, compared
//! by its normalised form everywhere.

use std::fmt;

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

/// Lower-cases a domain and converts Unicode labels to their `xn--` form.
fn domain_to_ascii(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.len() > 253 || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    let mut labels = Vec::new();
    for label in domain.split('.') {
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') {
            return None;
        }
        let lower = label.to_lowercase();
        let ascii = if lower.is_ascii() {
            lower
        } else {
            format!("xn--{}", punycode_encode(&lower)?)
        };
        if ascii.len() > 63
            || !ascii
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        labels.push(ascii);
    }
    if labels.len() < 2 {
        return None;
    }
    Some(labels.join("."))
}

/// RFC 3492 Punycode encoding of one label (without the `xn--` prefix).
fn punycode_encode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(mut delta: u32, numpoints: u32, first: bool) -> u32 {
        delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / numpoints;
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + (((BASE - TMIN + 1) * delta) / (delta + SKEW))
    }
    fn digit(d: u32) -> char {
        (if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        }) as char
    }
    let chars: Vec<u32> = input.chars().map(|c| c as u32).collect();
    let mut out: String = input.chars().filter(|c| c.is_ascii()).collect();
    let basic = out.len() as u32;
    let mut h = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (h as usize) < chars.len() {
        let m = *chars.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in &chars {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
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
