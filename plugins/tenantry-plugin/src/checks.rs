//! Builders for the configuration test (`check-configuration` of world `sso`): a list of
//! named checks, each passed or failed with a detail and, when failed, the fix. A request
//! that gets no answer becomes a failed check that says what to change (the allowlist, the
//! timeout, the response cap, reachability).
//!
//! ```ignore
//! fn check_configuration(_org: String) -> Vec<Check> {
//!     let mut checks = Checks::new("the provider");
//!     let Some(r) = checks.get("discovery", "discovery document", &url) else {
//!         return checks.into_vec();
//!     };
//!     checks.pass("discovery", format!("fetched from {url}"));
//!     checks.into_vec()
//! }
//! ```

use crate::http::{self, HttpError, Response};
pub use crate::sso::Check;

/// A passed check.
pub fn pass(name: &str, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

/// A failed check, with what to do about it.
pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// The failed check `name` for a request to `at` (e.g. `"JWKS (https://…)"`) that got no
/// answer from `upstream` (e.g. `"the provider"`), with the fix.
pub fn http_failure(name: &str, at: &str, upstream: &str, error: HttpError) -> Check {
    let reachable = format!("check that {upstream} is reachable from this server");
    match error {
        HttpError::ForbiddenHost(h) => fail(
            name,
            format!("{at}: host {h} is not in allowed_hosts"),
            format!("add `{h}` to this plugin's allowed_hosts (`[plugins.NAME] allowed_hosts` in the server configuration; with the port, as written here), then restart"),
        ),
        HttpError::InvalidRequest(m) => fail(
            name,
            format!("{at}: the request could not be built: {m}"),
            "correct the URL (in the plugin's settings, or where the upstream named it)",
        ),
        HttpError::Timeout => fail(
            name,
            format!("{at}: no answer within the plugin's HTTP timeout"),
            format!("{reachable} (firewall, proxy, DNS), or raise `http_timeout_ms`"),
        ),
        HttpError::TooLarge => fail(
            name,
            format!("{at}: the answer is larger than the plugin's response cap"),
            "raise `max_response_kib` of this plugin",
        ),
        HttpError::Transport(m) => fail(
            name,
            format!("{at}: {m}"),
            format!("{reachable} (address, port, TLS certificate and the server's trusted CAs)"),
        ),
    }
}

/// The checks so far, and who the requests go to (named in the fixes).
#[derive(Debug)]
pub struct Checks {
    list: Vec<Check>,
    upstream: String,
}

impl Checks {
    /// No checks yet; `upstream` names what the requests go to in fixes (`"the provider"`).
    pub fn new(upstream: &str) -> Checks {
        Checks {
            list: Vec::new(),
            upstream: upstream.to_string(),
        }
    }

    /// Adds a check.
    pub fn push(&mut self, check: Check) {
        self.list.push(check);
    }

    /// Adds a passed check.
    pub fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.push(pass(name, detail));
    }

    /// Adds a failed check.
    pub fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(fail(name, detail, fix));
    }

    /// Sends `request` for `what` (`"token endpoint"`); any status is an answer. No answer
    /// adds the failed check `name` ([`http_failure`]) and answers none.
    pub fn send(&mut self, name: &str, what: &str, request: http::Request) -> Option<Response> {
        let at = format!("{what} ({})", request.url);
        match request.send() {
            Ok(response) => Some(response),
            Err(e) => {
                let failed = http_failure(name, &at, &self.upstream, e);
                self.push(failed);
                None
            }
        }
    }

    /// `GET url` asking for JSON, as [`Checks::send`].
    pub fn get(&mut self, name: &str, what: &str, url: &str) -> Option<Response> {
        let request = http::Request::get(url).header("accept", "application/json");
        self.send(name, what, request)
    }

    /// The checks, in the order they were added.
    pub fn into_vec(self) -> Vec<Check> {
        self.list
    }

    /// Whether every check so far passed.
    pub fn all_passed(&self) -> bool {
        self.list.iter().all(|c| c.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn requests_without_an_answer_become_failed_checks_with_the_fix() {
        let _host = MockHost::new()
            .allow_host("up.example")
            .on("GET", "https://up.example/ok", 404, "")
            .install();
        let mut checks = Checks::new("the billing API");
        let answer = checks.get("ok", "status page", "https://up.example/ok");
        assert_eq!(answer.map(|r| r.status), Some(404));
        assert!(checks.all_passed());
        assert!(checks
            .get("gone", "status page", "https://up.example/x")
            .is_none());
        assert!(checks
            .get("host", "API", "https://down.example:8443/")
            .is_none());
        checks.pass("last", "fine");
        assert!(!checks.all_passed());
        let list = checks.into_vec();
        let names: Vec<_> = list.iter().map(|c| (c.name.as_str(), c.ok)).collect();
        assert_eq!(names, [("gone", false), ("host", false), ("last", true)]);
        assert_eq!(
            list[0].detail,
            "status page (https://up.example/x): no scripted answer for GET https://up.example/x"
        );
        let fix = list[0].fix.as_deref().unwrap();
        assert!(
            fix.starts_with("check that the billing API is reachable"),
            "{fix}"
        );
        assert_eq!(
            list[1].detail,
            "API (https://down.example:8443/): host down.example:8443 is not in allowed_hosts"
        );
        let fix = list[1].fix.as_deref().unwrap();
        assert!(fix.starts_with("add `down.example:8443` to this plugin's allowed_hosts"));
        let timeout = http_failure("t", "x", "it", HttpError::Timeout);
        assert!(timeout.fix.unwrap().contains("http_timeout_ms"));
        let large = http_failure("t", "x", "it", HttpError::TooLarge);
        assert!(large.fix.unwrap().contains("max_response_kib"));
    }
}
