//! Steps the browser tests share: signing in and out through the pages, opening a page once
//! its heading shows, and submitting a form so that the wait is for the answer's page.

use std::time::Duration;

use serde_json::json;

use super::browser::Browser;

/// How long a page step may take (generous: the machine running the suite may be busy).
pub const WAIT: Duration = Duration::from_secs(15);

/// Fills in and submits the sign-in form; does not wait for what comes next.
pub fn submit_password(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/login"));
    b.type_into("#email", email);
    b.type_into("#password", password);
    b.click("form[action='/login'] button[type=submit]");
}

/// Waits for the Settings landing page.
pub fn lands_on_settings(b: &Browser, base: &str) {
    b.wait_for("Settings", WAIT, |url, html| {
        url == format!("{base}/settings") && html.contains("<h1>Settings</h1>")
    });
}

/// Signs in through the sign-in page (no second step) and waits for Settings.
pub fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    submit_password(b, base, email, password);
    lands_on_settings(b, base);
}

/// Signs out with the header's button and waits for the sign-in page.
pub fn sign_out(b: &Browser, base: &str) {
    b.click("header form[action='/logout'] button");
    b.wait_for("the sign-in page", WAIT, |url, _| {
        url.starts_with(&format!("{base}/login"))
    });
}

/// Opens a page and waits for its heading.
pub fn open(b: &Browser, base: &str, path: &str, heading: &str) {
    b.goto(&format!("{base}{path}"));
    b.wait_for(heading, WAIT, |_, html| {
        html.contains(&format!("<h1>{heading}</h1>"))
    });
}

/// Marks the current page, so that a wait can tell the next page from it: an answer may show
/// the same notice as the page it replaces (the same form sent twice in a row).
pub fn mark_page(b: &Browser) {
    b.execute("window.tenantrySubmitted = true; return null;", json!([]));
}

/// Whether the page marked by [`mark_page`] has been replaced by another.
pub fn left_marked_page(b: &Browser) -> bool {
    b.execute("return window.tenantrySubmitted === true;", json!([])) == json!(false)
}

/// Clicks a form's button and waits until a new page shows `expected`.
pub fn submit(b: &Browser, form_action: &str, expected: &str) {
    mark_page(b);
    b.click(&format!("form[action='{form_action}'] button[type=submit]"));
    b.wait_for(expected, WAIT, |_, _| {
        left_marked_page(b) && b.text().contains(expected)
    });
}
