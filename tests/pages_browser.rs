//! Pages in a real headless browser (Chromium through ChromeDriver): what HTTP-level tests
//! cannot see — the browser's own handling of forms, cookies, redirects and the pages'
//! Content-Security-Policy.

use std::time::Duration;

use crate::support::browser::Browser;
use crate::support::server::{ADMIN_EMAIL, ADMIN_NAME, ADMIN_PASSWORD};
use crate::support::TestServer;

#[test]
fn password_sign_in_and_sign_out_in_a_browser() {
    let server = TestServer::start();
    server.bootstrap_admin();
    let browser = Browser::start();
    let base = server.base_url();

    // A wrong password keeps the person on the form, with the message.
    browser.goto(&format!("{base}/login"));
    browser.type_into("#email", ADMIN_EMAIL);
    browser.type_into("#password", "not-the-password");
    browser.click("button[type=submit]");
    browser.wait_for("the error message", Duration::from_secs(10), |_, html| {
        html.contains("The email or password is wrong.")
    });

    browser.goto(&format!("{base}/login"));
    browser.type_into("#email", ADMIN_EMAIL);
    browser.type_into("#password", ADMIN_PASSWORD);
    browser.click("button[type=submit]");
    browser.wait_for("Settings", Duration::from_secs(10), |url, html| {
        url == format!("{base}/settings") && html.contains(ADMIN_NAME)
    });

    // Signed in, /login and / go to Settings; signing out comes back to the form.
    for start in ["/login", "/"] {
        browser.goto(&format!("{base}{start}"));
        browser.wait_for("Settings again", Duration::from_secs(10), |url, _| {
            url == format!("{base}/settings")
        });
    }
    browser.click("form[action='/logout'] button");
    browser.wait_for("the sign-in page", Duration::from_secs(10), |url, html| {
        url.starts_with(&format!("{base}/login")) && html.contains("<h1>Sign in</h1>")
    });
    browser.goto(&format!("{base}/"));
    browser.wait_for(
        "the sign-in page after sign-out",
        Duration::from_secs(10),
        |url, _| url.starts_with(&format!("{base}/login")),
    );
}
