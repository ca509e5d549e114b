//! The request as handlers see it: method, path, query, headers, the body (already read and
//! capped), the client address, and typed JSON / form decoding with clear errors.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError, Result};

/// A request with its body read.
#[derive(Debug)]
pub struct Req {
    /// Upper-case method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Headers with lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body bytes (at most the body cap).
    pub body: Vec<u8>,
    /// The connected peer (a reverse proxy, when there is one).
    pub peer: SocketAddr,
    /// The client's address: the peer, or what a trusted proxy says the client is
    /// (`http.trusted_proxies`, see `http::client_addr`).
    pub client: IpAddr,
    /// Path parameters filled by the router.
    pub params: HashMap<&'static str, String>,
    /// The matched route's template (`unmatched` before routing or when none matched).
    pub route: &'static str,
    /// Set by the two-step gate for a page of an organization whose two-step sign-in policy
    /// applies to the signed-in person and is not enforced yet: (organization name,
    /// deadline in unix seconds), for the banner.
    pub two_step_grace: Option<(String, i64)>,
}

impl Req {
    /// First header value by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A cookie value by name.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "cookie")
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A path parameter set by the router.
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// Query parameters, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// One query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The client address as text, for throttling and audit (behind a trusted proxy, the
    /// address it forwarded).
    pub fn client_ip(&self) -> String {
        self.client.to_string()
    }

    /// Decodes a JSON body into `T`: syntax errors are `invalid_json`, shape errors are
    /// `validation_failed` naming the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            return Err(Error::InvalidJson(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        // The document's rules serde does not apply itself: an object, no `null` where the
        // schema allows none.
        crate::http::contract::check(&self.method, self.route, &self.body)?;
        // A well-formed body of the right shape decodes straight into `T`, without building
        // a `serde_json::Value` first. Anything else is decoded again below, which tells a
        // syntax error from a shape error.
        if let Ok(v) = serde_json::from_slice::<T>(&self.body) {
            return Ok(v);
        }
        // Syntax first (the whole body, trailing text included): 400. Then the shape: 422.
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.body).map_err(|e| Error::InvalidJson(e.to_string()))?;
        integral_floats_as_integers(&mut value);
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.into_inner().to_string();
            let field = if path == "." {
                // Missing / unknown field errors name the field in the message.
                msg.split('`').nth(1).unwrap_or("body").to_string()
            } else {
                path
            };
            Error::Validation(vec![FieldError::new(field, msg)])
        })
    }

    /// Decodes an `application/x-www-form-urlencoded` body.
    pub fn form(&self) -> HashMap<String, String> {
        form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// Turns every number written with a zero fraction (`719.0`, `1e3`) into an integer: JSON
/// Schema, and so the OpenAPI document, counts them as integers, while serde refuses them for
/// integer fields.
fn integral_floats_as_integers(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64() {
                // i64 bounds as floats; a value outside stays as it is (and is refused).
                const I64_RANGE: std::ops::Range<f64> =
                    -9.223_372_036_854_775e18..9.223_372_036_854_775e18;
                if f.fract() == 0.0 && I64_RANGE.contains(&f) {
                    *v = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        key: String,
        n: Option<i64>,
    }

    fn req(body: &str) -> Req {
        Req {
            method: "POST".into(),
            path: "/".into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
            client: IpAddr::from([127, 0, 0, 1]),
            params: HashMap::new(),
            route: "unmatched",
            two_step_grace: None,
        }
    }

    // The direct decoding of a well-formed body must not change any answer: syntax errors
    // stay `invalid_json`, shape errors stay `validation_failed` naming the field, and
    // what the two-step decoding accepted (a repeated field: the last one wins) is still
    // accepted.
    #[test]
    fn json_answers_are_unchanged_by_the_direct_path() {
        let ok = req(r#"{"key":"a","n":2}"#).json::<Body>().unwrap();
        assert_eq!(
            ok,
            Body {
                key: "a".into(),
                n: Some(2)
            }
        );
        let dup = req(r#"{"key":"a","key":"b"}"#).json::<Body>().unwrap();
        assert_eq!(
            dup,
            Body {
                key: "b".into(),
                n: None
            }
        );
        for bad in [r#"{"key":"a"} x"#, r#"{"key":"#, ""] {
            assert!(
                matches!(req(bad).json::<Body>(), Err(Error::InvalidJson(_))),
                "{bad}"
            );
        }
        for (shape, field) in [
            (r#"{"key":1}"#, "key"),
            (r#"{"n":1}"#, "key"),
            (r#"{"key":"a","other":1}"#, "other"),
            (r#"{"key":"a","n":"x"}"#, "n"),
        ] {
            match req(shape).json::<Body>() {
                Err(Error::Validation(errs)) => assert_eq!(errs[0].field, field, "{shape}"),
                other => panic!("{shape}: {other:?}"),
            }
        }
    }

    // JSON Schema counts `719.0` as an integer, so a client generated from the document may
    // send it; it must decode like `719`. A real fraction is still refused.
    #[test]
    fn integral_floats_decode_into_integer_fields() {
        let ok = req(r#"{"key":"a","n":719.0}"#).json::<Body>().unwrap();
        assert_eq!(ok.n, Some(719));
        let big = req(r#"{"key":"a","n":1e3}"#).json::<Body>().unwrap();
        assert_eq!(big.n, Some(1000));
        assert!(matches!(
            req(r#"{"key":"a","n":7.5}"#).json::<Body>(),
            Err(Error::Validation(_))
        ));
        assert!(matches!(
            req(r#"{"key":"a","n":1e30}"#).json::<Body>(),
            Err(Error::Validation(_))
        ));
    }
}
