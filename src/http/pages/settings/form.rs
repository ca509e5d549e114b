//! The one form helper of the settings pages: typed views of labelled controls, errors
//! beside their fields with the submitted values kept, the session's CSRF token on every
//! form, and post-redirect-get with a notice code.

use serde::Serialize;

use super::Ctx;
use crate::error::{Error, FieldError, Result};
use crate::http::response::Resp;

/// One option of a select.
#[derive(Serialize, Clone)]
pub struct OptionView {
    /// Submitted value.
    pub value: String,
    /// Visible text.
    pub label: String,
    /// Chosen.
    pub selected: bool,
}

/// One labelled form control, with its error beside it.
#[derive(Serialize, Clone)]
pub struct FieldView {
    /// Form field name (also the element ID suffix).
    pub name: String,
    /// Visible label.
    pub label: String,
    /// `text`, `email`, `password`…
    pub kind: &'static str,
    /// Current value (kept after an error).
    pub value: String,
    /// Browser autofill hint.
    pub autocomplete: &'static str,
    /// Short help under the label.
    pub hint: Option<String>,
    /// The message for this field after a failed post.
    pub error: Option<String>,
    /// A select's options (empty for an input).
    pub options: Vec<OptionView>,
    /// Carried along, not shown.
    pub hidden: bool,
}

impl FieldView {
    /// A text input.
    pub fn input(name: &str, label: &str, kind: &'static str, value: &str) -> FieldView {
        FieldView {
            name: name.into(),
            label: label.into(),
            kind,
            value: value.into(),
            autocomplete: "off",
            hint: None,
            error: None,
            options: Vec::new(),
            hidden: false,
        }
    }

    /// A select with `options` of (value, label); `value` is selected.
    pub fn select(
        name: &str,
        label: &str,
        value: &str,
        options: Vec<(String, String)>,
    ) -> FieldView {
        let options = options
            .into_iter()
            .map(|(v, l)| OptionView {
                selected: v == value,
                value: v,
                label: l,
            })
            .collect();
        FieldView {
            options,
            ..FieldView::input(name, label, "text", value)
        }
    }

    /// Sets the autofill hint.
    pub fn autocomplete(mut self, a: &'static str) -> FieldView {
        self.autocomplete = a;
        self
    }

    /// Sets the help text.
    pub fn hint(mut self, h: &str) -> FieldView {
        self.hint = Some(h.into());
        self
    }
}

/// A form: where it posts, its fields, and its button. Every form carries the CSRF token.
#[derive(Serialize, Clone)]
pub struct FormView {
    /// Target path (a POST route).
    pub action: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Controls.
    pub fields: Vec<FieldView>,
    /// Button text.
    pub submit: String,
    /// A message for the whole form.
    pub error: Option<String>,
    /// Asked before submitting (by the script; pages without it submit directly).
    pub confirm: Option<String>,
    /// A destructive action.
    pub danger: bool,
}

impl FormView {
    /// A form posting to `action`.
    pub fn new(c: &Ctx, action: &str, submit: &str, fields: Vec<FieldView>) -> FormView {
        FormView {
            action: action.into(),
            csrf_token: c.session.csrf_token.clone(),
            fields,
            submit: submit.into(),
            error: None,
            confirm: None,
            danger: false,
        }
    }

    /// Keeps the submitted values and puts each error beside its field; errors for fields
    /// the form does not show go above it.
    pub fn with_errors(
        mut self,
        submitted: &std::collections::HashMap<String, String>,
        errs: &[FieldError],
    ) -> FormView {
        let mut loose = Vec::new();
        for f in &mut self.fields {
            if let Some(v) = submitted.get(&f.name) {
                if f.kind != "password" {
                    f.value = v.clone();
                    for o in &mut f.options {
                        o.selected = &o.value == v;
                    }
                }
            }
        }
        for e in errs {
            match self.fields.iter_mut().find(|f| f.name == e.field) {
                Some(f) => f.error = Some(sentence(&e.message)),
                None => loose.push(sentence(&e.message)),
            }
        }
        if !loose.is_empty() {
            self.error = Some(loose.join(" "));
        } else if !errs.is_empty() {
            self.error = Some("Please correct the fields marked below.".into());
        }
        self
    }

    /// Marks a destructive form, asking `question` first.
    pub fn confirm(mut self, question: &str) -> FormView {
        self.confirm = Some(question.into());
        self.danger = true;
        self
    }
}

/// A service message as a sentence for people (one rule for pages and problem details).
pub use crate::http::problem::sentence;

/// Post-redirect-get: back to `path` with a notice code the page turns into words.
pub fn done(path: &str, notice: &str) -> Resp {
    Resp::see_other(&format!("{path}?notice={notice}"))
}

/// The field errors of a failed use case, or the error itself when it is not about fields.
pub fn field_errors(e: Error) -> Result<Vec<FieldError>> {
    match e {
        Error::Validation(errs) => Ok(errs),
        other => Err(other),
    }
}
