//! Form helpers for page tests: hidden inputs, the pre-session CSRF cookie, urlencoded bodies.

use super::{Response, Session};

/// `value` of the hidden input `name`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html.find(&marker)? + marker.len();
    let end = html[i..].find('"')?;
    Some(html[i..i + end].to_string())
}

/// The `tenantry_csrf` value from a page's `Set-Cookie`.
pub fn csrf_cookie(r: &Response) -> Option<String> {
    r.header_all("set-cookie").iter().find_map(|v| {
        let (name, val) = v.split(';').next()?.split_once('=')?;
        (name.trim() == "tenantry_csrf").then(|| val.trim().to_string())
    })
}

pub fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// Posts a form with the pre-session CSRF cookie (and the session cookie, if any).
pub fn post_form_with_csrf(
    s: &mut Session,
    path: &str,
    csrf_cookie: &str,
    fields: &[(&str, &str)],
) -> Response {
    let mut cookie = format!("tenantry_csrf={csrf_cookie}");
    if let Some(c) = &s.cookie {
        cookie.push_str(&format!("; tenantry_session={c}"));
    }
    s.request(
        "POST",
        path,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &cookie),
        ],
        Some(&form(fields)),
    )
}
