//! Page rendering: handlebars in strict mode with the templates embedded in the binary.
//! Every value is HTML-escaped by handlebars; templates never use triple braces.

use handlebars::Handlebars;
use serde::Serialize;

use crate::error::{Error, Result};

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("templates/layout.hbs")),
    ("login", include_str!("templates/login.hbs")),
    ("setup", include_str!("templates/setup.hbs")),
    ("home", include_str!("templates/home.hbs")),
    ("message", include_str!("templates/message.hbs")),
];

/// The template registry.
pub struct Views {
    hb: Handlebars<'static>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Views")
    }
}

impl Views {
    /// Registers the embedded templates (strict mode: a missing variable is an error).
    pub fn new() -> Result<Views> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        for (name, src) in TEMPLATES {
            hb.register_template_string(name, src)
                .map_err(|e| Error::internal(format!("template {name}: {e}")))?;
        }
        Ok(Views { hb })
    }

    /// Renders a page: `template` inside the layout with `title`.
    pub fn page<T: Serialize>(&self, template: &str, title: &str, data: &T) -> Result<String> {
        let body = self
            .hb
            .render(template, data)
            .map_err(|e| Error::internal(format!("render {template}: {e}")))?;
        #[derive(Serialize)]
        struct Layout<'a> {
            title: &'a str,
            body: &'a str,
        }
        // The layout inserts the already-escaped body with the `raw` helper below.
        self.hb
            .render("layout", &Layout { title, body: &body })
            .map_err(|e| Error::internal(format!("render layout: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_is_escaped() {
        let v = Views::new().unwrap();
        let html = v
            .page(
                "message",
                "<t>",
                &serde_json::json!({"heading": "<script>x</script>", "text": "a&b", "link": null, "link_text": null}),
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>x"));
        assert!(html.contains("a&amp;b"));
    }
}
