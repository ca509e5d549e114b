//! The OpenAPI document (`src/http/openapi.json`) against the route table: every API route is
//! documented with its method, nothing stale is documented, every operation is complete
//! (operationId, summary, responses, problem+json errors, path parameters) and every `$ref`
//! resolves. Then the real server and the CLI are checked to serve exactly that document.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};

use serde_json::Value;

use tenantry::http::api::system::OPENAPI;
use tenantry::http::routes::ROUTES;

use crate::support::TestServer;

/// HTTP methods an OpenAPI path item can hold as operations (lower-case).
const OPERATION_KEYS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(OPENAPI)
        .unwrap_or_else(|e| panic!("src/http/openapi.json is not valid JSON: {e}"))
}

/// `(METHOD, path)` of every API route (not `page`) in the route table.
fn api_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .filter(|r| !r.page)
        .map(|r| (r.method.to_ascii_uppercase(), r.path.to_string()))
        .collect()
}

/// Every operation of the document: `(METHOD, path) -> operation object`.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let paths = doc["paths"]
        .as_object()
        .expect("the document has a `paths` object");
    let mut out = BTreeMap::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("paths[{path:?}] is not an object"));
        for (key, op) in item {
            if OPERATION_KEYS.contains(&key.as_str()) {
                out.insert((key.to_ascii_uppercase(), path.clone()), op.clone());
            }
        }
    }
    out
}

/// `{name}` segments of a path template, in order.
fn template_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| s.starts_with('{') && s.ends_with('}'))
        .map(|s| s[1..s.len() - 1].to_string())
        .collect()
}

/// Follows a local `$ref` (`#/components/...`) once.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> Option<&'a Value> {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r.strip_prefix('#').and_then(|p| doc.pointer(p)),
        None => Some(v),
    }
}

/// Every `$ref` string anywhere in `v`, with the JSON path where it sits.
fn collect_refs(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k == "$ref" {
                    if let Some(s) = child.as_str() {
                        out.push((at.to_string(), s.to_string()));
                    }
                } else {
                    let k = k.replace('~', "~0").replace('/', "~1");
                    collect_refs(child, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect_refs(child, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn openapi_document_is_openapi_3_1() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0", "`openapi` must be \"3.1.0\"");
    assert!(doc["info"]["title"].is_string(), "info.title is required");
    assert!(
        doc["info"]["version"].is_string(),
        "info.version is required"
    );
    assert!(
        doc["components"]["schemas"]["Problem"].is_object(),
        "components.schemas.Problem (RFC 9457) is missing"
    );
    let problem_props = &doc["components"]["schemas"]["Problem"]["properties"];
    for field in [
        "type",
        "title",
        "status",
        "detail",
        "code",
        "errors",
        "permission",
        "feature",
    ] {
        assert!(
            problem_props[field].is_object(),
            "Problem schema lacks `{field}`"
        );
    }
}

#[test]
fn openapi_documents_every_api_route() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_keys().collect();
    let missing: Vec<String> = api_routes()
        .difference(&documented)
        .map(|(m, p)| format!("  {m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "{} route(s) of ROUTES are missing from src/http/openapi.json (document them under \
         `paths` with the lower-case method):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn openapi_documents_no_stale_operations() {
    let doc = doc();
    let routes = api_routes();
    let page_routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| r.page)
        .map(|r| (r.method.to_ascii_uppercase(), r.path.to_string()))
        .collect();
    let mut stale = Vec::new();
    for key in operations(&doc).into_keys() {
        if !routes.contains(&key) {
            let why = if page_routes.contains(&key) {
                " (an HTML page route; pages are not part of the API document)"
            } else {
                " (not in ROUTES)"
            };
            stale.push(format!("  {} {}{why}", key.0, key.1));
        }
    }
    assert!(
        stale.is_empty(),
        "{} operation(s) in src/http/openapi.json have no API route in ROUTES:\n{}",
        stale.len(),
        stale.join("\n")
    );
}

#[test]
fn openapi_operations_are_complete() {
    let doc = doc();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for ((method, path), op) in operations(&doc) {
        let here = format!("{method} {path}");
        let mut bad = |msg: String| problems.push(format!("  {here}: {msg}"));

        match op["operationId"].as_str() {
            Some(id) if !id.is_empty() => {
                if let Some(prev) = ids.insert(id.to_string(), here.clone()) {
                    bad(format!("operationId `{id}` is also used by {prev}"));
                }
            }
            _ => bad("no operationId".into()),
        }
        match op["summary"].as_str() {
            Some(s) if !s.trim().is_empty() && !s.contains('\n') => {}
            _ => bad("no one-line summary".into()),
        }

        // Responses: at least one, a success among them; errors are problem+json.
        let responses = op["responses"].as_object().cloned().unwrap_or_default();
        if responses.is_empty() {
            bad("no responses".into());
        }
        if !responses.keys().any(|s| s.starts_with('2')) {
            bad("no 2xx response".into());
        }
        if method == "DELETE" && !responses.contains_key("204") {
            bad("a DELETE should answer 204".into());
        }
        for (status, resp) in &responses {
            let Some(resp) = resolve(&doc, resp) else {
                continue; // reported by the $ref check
            };
            if resp["description"].as_str().is_none() {
                bad(format!("response {status} has no description"));
            }
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &resp["content"]["application/problem+json"]["schema"];
                if schema["$ref"] != "#/components/schemas/Problem" {
                    bad(format!(
                        "error response {status} is not application/problem+json with the Problem schema"
                    ));
                }
            }
        }

        // Authentication: operations that need a session document 401; unsafe methods
        // document the cross-site refusal; bodies document 400/413/422.
        let security = op.get("security").unwrap_or(&doc["security"]);
        let reqs = security.as_array().cloned().unwrap_or_default();
        for req in &reqs {
            for name in req.as_object().into_iter().flat_map(|m| m.keys()) {
                if !schemes.contains_key(name) {
                    bad(format!(
                        "security scheme `{name}` is not in components.securitySchemes"
                    ));
                }
            }
        }
        let auth_required = !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| r.as_object().is_some_and(|m| !m.is_empty()));
        if auth_required && !responses.contains_key("401") {
            bad("needs a session but documents no 401".into());
        }
        if !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") && !responses.contains_key("403")
        {
            bad("an unsafe method should document 403 (csrf_failed)".into());
        }
        if op.get("requestBody").is_some() {
            for st in ["400", "413", "422"] {
                if !responses.contains_key(st) {
                    bad(format!("takes a JSON body but documents no {st}"));
                }
            }
        }

        // Path parameters match the template exactly.
        let mut declared: Vec<String> = Vec::new();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let item_params = doc["paths"][&path]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for p in params.iter().chain(item_params.iter()) {
            let Some(p) = resolve(&doc, p) else { continue };
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap_or_default().to_string();
                if p["required"] != true {
                    bad(format!("path parameter `{name}` must be required"));
                }
                declared.push(name);
            }
        }
        declared.sort();
        let mut wanted = template_params(&path);
        wanted.sort();
        if declared != wanted {
            bad(format!(
                "path parameters {declared:?} do not match the template's {wanted:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "incomplete operations in src/http/openapi.json:\n{}",
        problems.join("\n")
    );
}

#[test]
fn openapi_refs_resolve() {
    let doc = doc();
    let mut refs = Vec::new();
    collect_refs(&doc, "#", &mut refs);
    assert!(!refs.is_empty(), "the document uses no $ref at all");
    let broken: Vec<String> = refs
        .iter()
        .filter(|(_, r)| {
            !r.starts_with("#/") || doc.pointer(&r[1..]).is_none_or(|target| target.is_null())
        })
        .map(|(at, r)| format!("  {at}: {r}"))
        .collect();
    assert!(
        broken.is_empty(),
        "{} $ref(s) do not resolve inside the document:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn openapi_is_served_by_the_server_and_printed_by_the_cli() {
    let expected = doc();

    let server = TestServer::start();
    let resp = server.client().get("/api/v1/openapi.json");
    assert_eq!(
        resp.status,
        200,
        "GET /api/v1/openapi.json: {} {}",
        resp.status,
        resp.text()
    );
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "GET /api/v1/openapi.json content-type is {ct:?}"
    );
    assert!(
        resp.body == OPENAPI.as_bytes(),
        "GET /api/v1/openapi.json does not serve src/http/openapi.json byte for byte"
    );
    assert_eq!(resp.json(), expected);

    // `tenantry openapi` needs no server and no data dir.
    let cwd = server.root_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tenantry"));
    cmd.arg("openapi")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("TENANTRY_") {
            cmd.env_remove(&k);
        }
    }
    let out = cmd.output().expect("run `tenantry openapi`");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "`tenantry openapi` failed: {:?}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim_end(),
        OPENAPI.trim_end(),
        "`tenantry openapi` does not print src/http/openapi.json"
    );
    let printed: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("`tenantry openapi` printed no JSON ({e})"));
    assert_eq!(printed, expected);
}
