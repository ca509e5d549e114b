//! Help and Developers: Markdown files of the repository (`docs/help/`), embedded in the
//! binary and rendered with pulldown-cmark. Raw HTML in them is shown as text, so the pages
//! stay inside the escaping rules of every other page.

use pulldown_cmark::{html, Event, Options, Parser};
use serde::Serialize;

use super::{render, signed_in, LearnMore, Page};
use crate::error::{Error, Result};
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;

/// One help page.
pub struct HelpPage {
    /// URL segment under `/settings/help/`.
    pub slug: &'static str,
    /// Navigation label and window title.
    pub title: &'static str,
    /// The Markdown source.
    pub source: &'static str,
}

/// The help pages, in navigation order.
pub const PAGES: &[HelpPage] = &[
    HelpPage {
        slug: "overview",
        title: "Settings overview",
        source: include_str!("../../../../docs/help/overview.md"),
    },
    HelpPage {
        slug: "organization",
        title: "Organization settings",
        source: include_str!("../../../../docs/help/organization.md"),
    },
    HelpPage {
        slug: "personal",
        title: "Personal settings",
        source: include_str!("../../../../docs/help/personal.md"),
    },
    HelpPage {
        slug: "company",
        title: "Company settings",
        source: include_str!("../../../../docs/help/company.md"),
    },
    HelpPage {
        slug: "faq",
        title: "FAQ",
        source: include_str!("../../../../docs/help/faq.md"),
    },
];

const DEVELOPERS: &str = include_str!("../../../../docs/help/developers.md");

/// Markdown to HTML; raw HTML in the source is escaped, not passed through.
pub fn markdown(src: &str) -> String {
    let parser = Parser::new_ext(src, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        other => other,
    });
    let mut out = String::with_capacity(src.len() * 2);
    html::push_html(&mut out, parser);
    out
}

#[derive(Serialize)]
struct Link {
    href: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct DocView {
    html: String,
    links: Vec<Link>,
}

/// `GET /settings/help`: the overview.
pub fn index(_app: &Context, _req: &Req) -> Result<Resp> {
    Ok(Resp::see_other("/settings/help/overview"))
}

/// `GET /settings/help/{page}`.
pub fn show(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let page = PAGES
        .iter()
        .find(|p| p.slug == req.param("page"))
        .ok_or(Error::NotFound)?;
    let view = DocView {
        html: markdown(page.source),
        links: Vec::new(),
    };
    render(
        app,
        &c,
        Page {
            title: page.title,
            template: "settings/doc",
            data: &view,
            notice: None,
            learn_more: None,
            status: 200,
        },
    )
}

/// `GET /settings/developers`: the API getting-started guide and the OpenAPI document.
pub fn developers(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    let view = DocView {
        html: markdown(DEVELOPERS),
        links: vec![Link {
            href: "/api/v1/openapi.json",
            label: "OpenAPI document (JSON)",
        }],
    };
    render(
        app,
        &c,
        Page {
            title: "API guide",
            template: "settings/doc",
            data: &view,
            notice: None,
            learn_more: Some(LearnMore {
                href: "/settings/help/faq",
                label: "API keys in the FAQ",
            }),
            status: 200,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::markdown;

    #[test]
    fn raw_html_in_help_is_shown_as_text() {
        let out = markdown("# Hi\n\n<script>alert(1)</script>\n\nA <b>bold</b> word.");
        assert!(out.contains("<h1>Hi</h1>"), "{out}");
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("<b>"), "{out}");
    }
}
