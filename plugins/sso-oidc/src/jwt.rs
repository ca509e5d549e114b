//! ID tokens: JWS compact parsing, JWK keys, RS256/ES256 signatures and claim checks.
//! Pure code (no host calls), so it is unit-tested natively.

use p256::ecdsa::signature::Verifier as _;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::{Map, Value};

use crate::util::{b64url_decode, b64url_decode_lenient, clip, ct_eq, sha256};

/// Allowed clock difference between the provider and the host, in seconds.
pub(crate) const LEEWAY_S: i64 = 60;

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// Signature algorithms this plugin verifies. Everything else (`none`, `HS*`, `PS*`, …) is
/// refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// Public key material of a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    /// `kty: RSA`: big-endian modulus and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// `kty: EC`, `crv: P-256`: affine coordinates, 32 bytes each.
    P256 { x: Vec<u8>, y: Vec<u8> },
}

/// A public signing key from the provider's JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jwk {
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub material: KeyMaterial,
}

/// The usable signing keys of a JWKS document (`{"keys": [...]}`). Keys of other types,
/// curves or uses (`use: enc`) are skipped; a key of a supported type with bad fields is
/// skipped too, so one broken key cannot lock everybody out.
pub(crate) fn parse_jwks(doc: &Map<String, Value>) -> Result<Vec<Jwk>, String> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no `keys` array")?;
    Ok(keys
        .iter()
        .filter_map(Value::as_object)
        .filter_map(parse_jwk)
        .collect())
}

fn parse_jwk(key: &Map<String, Value>) -> Option<Jwk> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return None;
    }
    if let Some(ops) = key.get("key_ops").and_then(Value::as_array) {
        if !ops.iter().any(|o| o.as_str() == Some("verify")) {
            return None;
        }
    }
    let bytes = |name: &str| text(name).and_then(|s| b64url_decode_lenient(s).ok());
    let material = match text("kty")? {
        "RSA" => KeyMaterial::Rsa {
            n: bytes("n")?,
            e: bytes("e")?,
        },
        "EC" if text("crv") == Some("P-256") => {
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            KeyMaterial::P256 { x, y }
        }
        _ => return None,
    };
    Some(Jwk {
        kid: text("kid").map(str::to_string),
        alg: text("alg").map(str::to_string),
        material,
    })
}

/// A parsed (not yet verified) JWS in compact serialization.
#[derive(Debug, Clone)]
pub(crate) struct Jws {
    pub alg: Alg,
    pub kid: Option<String>,
    /// The payload's claims.
    pub claims: Map<String, Value>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses `token` as a JWS compact serialization signed with a supported algorithm.
pub(crate) fn parse(token: &str) -> Result<Jws, String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "not a JWS compact serialization ({} parts, expected 3; encrypted ID tokens are not supported)",
            parts.len()
        ));
    }
    let decode_object = |part: &str, what: &str| -> Result<Map<String, Value>, String> {
        let bytes = b64url_decode(part).map_err(|e| format!("{what} is not base64url: {e}"))?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!("{what} is not a JSON object")),
        }
    };
    let header = decode_object(parts[0], "header")?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Alg::Rs256,
        Some("ES256") => Alg::Es256,
        Some(other) => {
            return Err(format!(
                "signature algorithm `{}` is not accepted (RS256 or ES256 only)",
                clip(other, 20)
            ))
        }
        None => return Err("header has no `alg`".to_string()),
    };
    if header.contains_key("crit") {
        return Err("header has `crit` extensions, which are not supported".to_string());
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err("header `kid` is not a string".to_string()),
    };
    let claims = decode_object(parts[1], "payload")?;
    let signature =
        b64url_decode(parts[2]).map_err(|e| format!("signature is not base64url: {e}"))?;
    if signature.is_empty() {
        return Err("signature is empty".to_string());
    }
    Ok(Jws {
        alg,
        kid,
        claims,
        signing_input: format!("{}.{}", parts[0], parts[1]).into_bytes(),
        signature,
    })
}

impl Jws {
    /// Whether `key` may have signed this token: matching type, `alg` if the key names one,
    /// `kid` if the token names one.
    pub fn may_be_signed_by(&self, key: &Jwk) -> bool {
        let type_ok = matches!(
            (self.alg, &key.material),
            (Alg::Rs256, KeyMaterial::Rsa { .. }) | (Alg::Es256, KeyMaterial::P256 { .. })
        );
        let alg_ok = key.alg.as_deref().is_none_or(|a| a == self.alg.name());
        let kid_ok = match &self.kid {
            Some(kid) => key.kid.as_deref() == Some(kid.as_str()),
            None => true,
        };
        type_ok && alg_ok && kid_ok
    }

    /// Checks the signature with `key`.
    pub fn verify(&self, key: &Jwk) -> Result<(), String> {
        match (self.alg, &key.material) {
            (Alg::Rs256, KeyMaterial::Rsa { n, e }) => {
                let public =
                    RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                        .map_err(|err| format!("unusable RSA key: {err}"))?;
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "RSA key is too small (about {bits} bits, at least {MIN_RSA_BITS} required)"
                    ));
                }
                public
                    .verify(
                        Pkcs1v15Sign::new::<sha2::Sha256>(),
                        &sha256(&self.signing_input),
                        &self.signature,
                    )
                    .map_err(|_| "RS256 signature does not verify".to_string())
            }
            (Alg::Es256, KeyMaterial::P256 { x, y }) => {
                let coordinate = |c: &[u8]| -> Result<p256::FieldBytes, String> {
                    <[u8; 32]>::try_from(c)
                        .map(p256::FieldBytes::from)
                        .map_err(|_| "EC key coordinate is not 32 bytes".to_string())
                };
                let point = p256::EncodedPoint::from_affine_coordinates(
                    &coordinate(x)?,
                    &coordinate(y)?,
                    false,
                );
                let public = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| "EC key is not a point on P-256".to_string())?;
                let signature = p256::ecdsa::Signature::from_slice(&self.signature)
                    .map_err(|_| "ES256 signature is not 64 bytes of r||s".to_string())?;
                public
                    .verify(&self.signing_input, &signature)
                    .map_err(|_| "ES256 signature does not verify".to_string())
            }
            _ => Err(format!("key type does not fit {}", self.alg.name())),
        }
    }
}

/// What the ID token's claims must say.
#[derive(Debug, Clone)]
pub(crate) struct Expected<'a> {
    /// The provider's issuer, compared exactly with `iss`.
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Now, seconds since the Unix epoch.
    pub now_s: i64,
}

/// Checks `iss`, `aud`/`azp`, `exp`, `iat`, `nonce` and `sub` (OpenID Connect Core §3.1.3.7).
pub(crate) fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), String> {
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or("no `iss` claim")?;
    if iss != expected.issuer {
        return Err(format!(
            "`iss` is `{}`, expected `{}`",
            clip(iss, 200),
            expected.issuer
        ));
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|a| a.as_str().ok_or("`aud` holds a non-string"))
            .collect::<Result<_, _>>()?,
        _ => return Err("no `aud` claim".to_string()),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(format!(
            "`aud` does not contain the client_id `{}`",
            expected.client_id
        ));
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if audiences.len() > 1 && azp.is_none() {
        return Err("several audiences but no `azp` claim".to_string());
    }
    if let Some(azp) = azp {
        if azp != expected.client_id {
            return Err(format!(
                "`azp` is `{}`, expected the client_id `{}`",
                clip(azp, 200),
                expected.client_id
            ));
        }
    }

    let exp = numeric_date(claims, "exp")?.ok_or("no `exp` claim")?;
    if exp.saturating_add(LEEWAY_S) <= expected.now_s {
        return Err(format!(
            "expired (`exp` {exp}, now {}, leeway {LEEWAY_S} s)",
            expected.now_s
        ));
    }
    let iat = numeric_date(claims, "iat")?.ok_or("no `iat` claim")?;
    if iat > expected.now_s.saturating_add(LEEWAY_S) {
        return Err(format!(
            "issued in the future (`iat` {iat}, now {}, leeway {LEEWAY_S} s)",
            expected.now_s
        ));
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if nbf > expected.now_s.saturating_add(LEEWAY_S) {
            return Err(format!(
                "not valid yet (`nbf` {nbf}, now {})",
                expected.now_s
            ));
        }
    }

    match claims.get("nonce").and_then(Value::as_str) {
        Some(nonce) if ct_eq(nonce, expected.nonce) => {}
        Some(_) => return Err("`nonce` does not match this sign-in".to_string()),
        None => return Err("no `nonce` claim".to_string()),
    }

    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => Ok(()),
        _ => Err("no `sub` claim".to_string()),
    }
}

/// A NumericDate claim in whole seconds (fractions cut), `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| format!("`{name}` is not a number")),
    }
}

/// The identity fields of verified claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claims {
    pub subject: String,
    /// `None` when the token has no (non-empty) `email`.
    pub email: Option<String>,
    pub email_verified: bool,
    /// Whether the claims state `email_verified` at all (true or false).
    pub email_verified_stated: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
}

/// Reads the identity from verified claims: `sub`, `email`, `email_verified` (a boolean, or
/// the string `"true"`; absent means false), `name`, and `groups` when it is an array of
/// strings (anything else yields no groups).
pub(crate) fn identity_claims(claims: &Map<String, Value>) -> Claims {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let groups = match claims.get("groups") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|g| g.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Claims {
        subject: claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        email: text("email"),
        email_verified,
        email_verified_stated: claims.get("email_verified").is_some_and(|v| !v.is_null()),
        name: text("name"),
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::b64url;
    use p256::ecdsa::signature::Signer as _;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn ec_key() -> (p256::ecdsa::SigningKey, Jwk) {
        let signing = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = signing.verifying_key().to_encoded_point(false);
        let jwks = object(json!({"keys": [
            {"kty": "oct", "k": "AAAA", "kid": "sym"},
            {"kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig", "alg": "ES256",
             "x": b64url(point.x().unwrap()), "y": b64url(point.y().unwrap())},
            {"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc",
             "x": b64url(point.x().unwrap()), "y": b64url(point.y().unwrap())},
        ]}));
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.len(), 1);
        (signing, keys[0].clone())
    }

    fn sign_es256(key: &p256::ecdsa::SigningKey, header: Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64url(&sig.to_bytes()))
    }

    fn claims() -> Value {
        json!({"iss": "https://idp", "aud": "app", "sub": "u1", "nonce": "n1",
               "exp": NOW + 300, "iat": NOW, "email": "a@example.test",
               "email_verified": true, "name": "Ann", "groups": ["x", "y"]})
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp",
            client_id: "app",
            nonce: "n1",
            now_s: NOW,
        }
    }

    #[test]
    fn es256_round_trip_and_tamper() {
        let (signing, jwk) = ec_key();
        let token = sign_es256(&signing, json!({"alg": "ES256", "kid": "ec1"}), &claims());
        let jws = parse(&token).unwrap();
        assert!(jws.may_be_signed_by(&jwk));
        jws.verify(&jwk).unwrap();
        check_claims(&jws.claims, &expected()).unwrap();
        let id = identity_claims(&jws.claims);
        assert_eq!(id.email.as_deref(), Some("a@example.test"));
        assert!(id.email_verified);
        assert_eq!(id.groups, vec!["x", "y"]);

        // Another payload under the same signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let mut other = claims();
        other["sub"] = json!("admin");
        let forged = b64url(other.to_string().as_bytes());
        parts[1] = &forged;
        let jws = parse(&parts.join(".")).unwrap();
        assert!(jws.verify(&jwk).unwrap_err().contains("does not verify"));

        // Wrong kid: the key does not qualify.
        let token = sign_es256(&signing, json!({"alg": "ES256", "kid": "other"}), &claims());
        assert!(!parse(&token).unwrap().may_be_signed_by(&jwk));
    }

    #[test]
    fn refuses_other_algorithms() {
        let body = b64url(claims().to_string().as_bytes());
        for alg in ["none", "HS256", "PS256", "RS512"] {
            let header = b64url(json!({ "alg": alg }).to_string().as_bytes());
            let err = parse(&format!("{header}.{body}.c2ln")).unwrap_err();
            assert!(err.contains("not accepted"), "{alg}: {err}");
        }
        let header = b64url(json!({"alg": "none"}).to_string().as_bytes());
        assert!(parse(&format!("{header}.{body}.")).is_err());
        assert!(parse("a.b").is_err());
        assert!(parse("a.b.c.d.e").unwrap_err().contains("5 parts"));
        let header = b64url(
            json!({"alg": "RS256", "crit": ["x"]})
                .to_string()
                .as_bytes(),
        );
        assert!(parse(&format!("{header}.{body}.c2ln")).is_err());
    }

    #[test]
    fn rs256_known_answer() {
        // RFC 7515 appendix A.2: an RS256 JWS and its 2048-bit key.
        let n = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
        let jwks = object(json!({"keys": [{"kty": "RSA", "n": n, "e": "AQAB"}]}));
        let key = parse_jwks(&jwks).unwrap().remove(0);
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
        let jws = parse(token).unwrap();
        assert_eq!(jws.alg, Alg::Rs256);
        assert!(jws.may_be_signed_by(&key));
        jws.verify(&key).unwrap();
        // Flip one character in the middle of the signature.
        let mut bad = token.to_string();
        let at = bad.len() - 20;
        let flipped = if &bad[at..=at] == "A" { "B" } else { "A" };
        bad.replace_range(at..=at, flipped);
        assert!(parse(&bad).unwrap().verify(&key).is_err());
    }

    #[test]
    fn claim_checks() {
        let check = |edit: &dyn Fn(&mut Value)| {
            let mut c = claims();
            edit(&mut c);
            check_claims(&object(c), &expected())
        };
        assert!(check(&|_| {}).is_ok());
        assert!(check(&|c| c["iss"] = json!("https://evil"))
            .unwrap_err()
            .contains("iss"));
        assert!(check(&|c| c["aud"] = json!("other")).is_err());
        assert!(check(&|c| c["aud"] = json!(["app"])).is_ok());
        assert!(check(&|c| c["aud"] = json!(["app", "other"]))
            .unwrap_err()
            .contains("azp"));
        assert!(check(&|c| {
            c["aud"] = json!(["app", "other"]);
            c["azp"] = json!("app");
        })
        .is_ok());
        assert!(check(&|c| c["azp"] = json!("other")).is_err());
        assert!(check(&|c| c["exp"] = json!(NOW - 61))
            .unwrap_err()
            .contains("expired"));
        assert!(check(&|c| c["exp"] = json!(NOW - 30)).is_ok());
        assert!(check(&|c| c["exp"] = json!("soon")).is_err());
        assert!(check(&|c| c["iat"] = json!(NOW + 120))
            .unwrap_err()
            .contains("future"));
        assert!(check(&|c| c["iat"] = json!(NOW as f64 + 0.5)).is_ok());
        assert!(check(&|c| c["nonce"] = json!("n2"))
            .unwrap_err()
            .contains("nonce"));
        assert!(check(&|c| {
            c.as_object_mut().unwrap().remove("nonce");
        })
        .is_err());
        assert!(check(&|c| c["sub"] = json!("")).is_err());
    }

    #[test]
    fn identity_fields() {
        let id = identity_claims(&object(json!({"sub": "s", "email_verified": "true",
                                                 "groups": ["a", 1]})));
        assert_eq!(id.email, None);
        assert!(id.email_verified);
        assert!(id.groups.is_empty());
        let id = identity_claims(&object(json!({"sub": "s", "email": "e@x", "name": " "})));
        assert!(!id.email_verified);
        assert_eq!(id.name, None);
    }
}
