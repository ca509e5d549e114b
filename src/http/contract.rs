//! What the OpenAPI document says about request bodies that serde does not check on its own.
//!
//! Every JSON request body in the document is an object, and a property may be `null` only
//! where its schema allows `null`. serde, left alone, reads a struct from a JSON array
//! (`[null, null]` fills the fields in order) and reads `null` into any `Option` field as
//! "not given", so a client whose request the document calls invalid was answered 200. This
//! module reads those two rules for every operation from the document the server publishes
//! (`src/http/openapi.json`, parsed once) and [`check`] applies them before a body is decoded,
//! so the document and the server cannot drift apart.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, FieldError, Result};

/// The body rules of one operation.
#[derive(Debug, Default)]
struct BodyRule {
    /// Top-level properties whose schema does not allow `null`.
    not_null: HashSet<String>,
}

/// By path template, then upper-case method (looked up with borrowed strings: no allocation
/// per request).
type Rules = HashMap<String, HashMap<String, BodyRule>>;

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let doc: Value =
            serde_json::from_str(crate::http::api::system::OPENAPI).unwrap_or(Value::Null);
        read_rules(&doc)
    })
}

/// Reads the body rules of every operation with a JSON request body.
fn read_rules(doc: &Value) -> Rules {
    let mut out = Rules::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            let schema = resolve(doc, schema);
            let mut rule = BodyRule::default();
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    if !allows_null(doc, prop) {
                        rule.not_null.insert(name.clone());
                    }
                }
            }
            out.entry(path.clone())
                .or_default()
                .insert(method.to_ascii_uppercase(), rule);
        }
    }
    out
}

/// Follows `$ref`s to `#/components/schemas/…` (a bounded number of times).
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema["$ref"].as_str() {
            Some(r) => match r.strip_prefix("#/components/schemas/") {
                Some(name) => schema = &doc["components"]["schemas"][name],
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// Whether a property's schema lets it be `null`.
fn allows_null(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    match &schema["type"] {
        Value::String(t) if t == "null" => return true,
        Value::Array(ts) if ts.iter().any(|t| t == "null") => return true,
        _ => {}
    }
    if schema.get("const") == Some(&Value::Null) {
        return true;
    }
    ["oneOf", "anyOf"].iter().any(|k| {
        schema[*k]
            .as_array()
            .is_some_and(|branches| branches.iter().any(|b| allows_null(doc, b)))
    })
}

/// Refuses a JSON body of the operation `method route` that the document calls invalid in a
/// way serde would let through: not an object, or `null` where the schema allows no `null`.
/// Operations without a JSON body in the document are not checked.
pub fn check(method: &str, route: &str, body: &[u8]) -> Result<()> {
    let Some(rule) = rules().get(route).and_then(|m| m.get(method)) else {
        return Ok(());
    };
    let starts_as_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    // The common case (an object without the word `null` in it) costs a byte scan.
    if starts_as_object && !contains(body, b"null") {
        return Ok(());
    }
    // Syntax errors are reported by the decoder as before.
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let Some(object) = value.as_object() else {
        return Err(Error::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    };
    let mut errors: Vec<FieldError> = object
        .iter()
        .filter(|(k, v)| v.is_null() && rule.not_null.contains(k.as_str()))
        .map(|(k, _)| FieldError::new(k.clone(), "must not be null (leave the field out instead)"))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    Err(Error::Validation(errors))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "paths": {"/x": {"patch": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/X"}}}}}}},
            "components": {"schemas": {
                "Tz": {"type": "string", "enum": ["UTC"]},
                "X": {"type": "object", "properties": {
                    "name": {"type": "string"},
                    "tz": {"$ref": "#/components/schemas/Tz"},
                    "tax_id": {"type": ["string", "null"]},
                    "expires_at": {"oneOf": [{"$ref": "#/components/schemas/Tz"}, {"type": "null"}]}
                }}
            }}
        })
    }

    #[test]
    fn nullability_is_read_from_the_schemas() {
        let rules = read_rules(&doc());
        let rule = &rules["/x"]["PATCH"];
        let mut not_null: Vec<&str> = rule.not_null.iter().map(String::as_str).collect();
        not_null.sort_unstable();
        assert_eq!(not_null, ["name", "tz"]);
    }

    #[test]
    fn every_documented_json_body_is_an_object_with_known_nullability() {
        // The published document parses and yields rules (a broken document would silently
        // disable the checks).
        let n: usize = rules().values().map(HashMap::len).sum();
        assert!(n > 30, "only {n} body rules");
        let rule = &rules()["/api/v1/me"]["PATCH"];
        assert!(rule.not_null.contains("name"));
    }

    #[test]
    fn arrays_and_nulls_where_the_document_forbids_them_are_refused() {
        let route = "/api/v1/me";
        assert!(check("PATCH", route, br#"{"name": "Ada"}"#).is_ok());
        assert!(check("PATCH", route, br#"{"name": "null and void"}"#).is_ok());
        let Err(Error::Validation(e)) = check("PATCH", route, b" [null, null]") else {
            panic!("an array body must be refused");
        };
        assert_eq!(e[0].field, "body");
        let Err(Error::Validation(e)) = check("PATCH", route, br#"{"name": null}"#) else {
            panic!("a null name must be refused");
        };
        assert_eq!(e[0].field, "name");
        // Nullable fields stay nullable; unknown operations are not checked.
        assert!(check(
            "PUT",
            "/api/v1/orgs/{org}/billing/source",
            br#"{"plugin": null}"#
        )
        .is_ok());
        assert!(check("GET", "/nowhere", b"[1]").is_ok());
    }
}
