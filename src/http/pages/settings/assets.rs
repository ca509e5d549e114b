//! `/assets/{file}`: the settings pages' stylesheet and script, embedded in the binary and
//! served under names that carry a hash of their content, so browsers may keep them for a
//! year and still get a new file the moment it changes.

use std::sync::LazyLock;

use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;
use crate::views::{SCRIPT, STYLESHEET};

struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &str) -> String {
    format!("{stem}-{:08x}.{ext}", crc32fast::hash(body.as_bytes()))
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        Asset {
            name: hashed("settings", "css", STYLESHEET),
            body: STYLESHEET,
            content_type: "text/css; charset=utf-8",
        },
        Asset {
            name: hashed("settings", "js", SCRIPT),
            body: SCRIPT,
            content_type: "text/javascript; charset=utf-8",
        },
    ]
});

static CSS_HREF: LazyLock<String> = LazyLock::new(|| format!("/assets/{}", ASSETS[0].name));
static JS_SRC: LazyLock<String> = LazyLock::new(|| format!("/assets/{}", ASSETS[1].name));

/// Path of the stylesheet (content-hashed name).
pub fn stylesheet_href() -> &'static str {
    &CSS_HREF
}

/// Path of the script (content-hashed name).
pub fn script_src() -> &'static str {
    &JS_SRC
}

/// `GET /assets/{file}`: an embedded asset with long cache headers; an old or unknown name
/// is "not found".
pub fn serve(_app: &Context, req: &Req) -> Result<Resp> {
    let file = req.param("file");
    let a = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or(Error::NotFound)?;
    Ok(Resp::new(200)
        .header("Content-Type", a.content_type)
        .header("Cache-Control", "public, max-age=31536000, immutable")
        .body(a.body.as_bytes().to_vec()))
}
