//! Personal > Security: two-step sign-in (an authenticator app and recovery codes), passkeys
//! and the active sessions.

use serde::Serialize;

use super::personal::{notice_text, LEARN};
use super::{done, posted, render, signed_in, when, Ctx, FieldView, FormView, Page};
use crate::error::{Error, FieldError, Result};
use crate::http::auth::SESSION_COOKIE;
use crate::http::request::Req;
use crate::http::response::Resp;
use crate::service::Context;
use crate::service::{me, passkeys, two_step};

const PATH: &str = "/settings/personal/security";

#[derive(Serialize)]
struct SessionRow {
    current: bool,
    created: String,
    last_seen: String,
    expires: String,
}

/// The enrolment in progress: the QR code, the secret as text, the confirm form.
#[derive(Serialize)]
struct EnrolView {
    qr_svg: String,
    secret: String,
    confirm_form: FormView,
}

#[derive(Serialize)]
struct TwoStepView {
    enabled: bool,
    /// Passkeys the person has (a second step even without an authenticator app).
    passkeys: i64,
    sso_managed: bool,
    enabled_at: Option<String>,
    recovery_codes_left: i64,
    start_form: Option<FormView>,
    enrol: Option<EnrolView>,
    regenerate_form: Option<FormView>,
    disable_form: Option<FormView>,
}

/// One passkey in the list, with its removal form.
#[derive(Serialize)]
struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
    action: String,
    confirm: String,
}

/// The Passkeys section.
#[derive(Serialize)]
struct PasskeysView {
    /// This server can hold passkeys (`public_url` is a domain).
    available: bool,
    sso_managed: bool,
    rows: Vec<PasskeyRow>,
    csrf_token: String,
    /// The person has the authenticator app: a code also confirms a removal.
    code: bool,
    error: Option<String>,
}

#[derive(Serialize)]
struct SecurityView {
    two_step: TwoStepView,
    passkeys: PasskeysView,
    sessions: Vec<SessionRow>,
    others: bool,
    sign_out_form: FormView,
}

#[derive(Serialize)]
struct RecoveryView {
    heading: &'static str,
    intro: &'static str,
    codes: Vec<String>,
    codes_text: String,
}

fn code_field() -> FieldView {
    FieldView::input("code", "Code from your authenticator app", "text", "")
        .autocomplete("one-time-code")
}

fn two_step_view(app: &Context, c: &Ctx, errs: &[FieldError], form: &str) -> Result<TwoStepView> {
    let status = two_step::status(app, &c.user)?;
    let with = |f: FormView, name: &str| {
        if name == form {
            f.with_errors(&Default::default(), errs)
        } else {
            f
        }
    };
    let mut v = TwoStepView {
        enabled: status.enabled,
        passkeys: status.passkeys,
        sso_managed: status.sso_managed,
        enabled_at: None,
        recovery_codes_left: status.recovery_codes_left,
        start_form: None,
        enrol: None,
        regenerate_form: None,
        disable_form: None,
    };
    if status.sso_managed {
        return Ok(v);
    }
    if status.enabled {
        v.enabled_at = status.enabled_since.map(|t| when(&c.user, t));
        v.regenerate_form = Some(with(
            FormView::new(
                c,
                &format!("{PATH}/two-step/recovery-codes"),
                "Make new recovery codes",
                vec![code_field().hint("The old recovery codes stop working.")],
            ),
            "regenerate",
        ));
        v.disable_form = Some(with(
            FormView::new(
                c,
                &format!("{PATH}/two-step/disable"),
                "Turn off two-step sign-in",
                vec![code_field()],
            )
            .confirm("Turn off two-step sign-in? Your password alone will then sign you in."),
            "disable",
        ));
    } else if let Some(e) = two_step::pending_enrolment(app, &c.user)? {
        v.enrol = Some(EnrolView {
            qr_svg: e.qr_svg,
            secret: e.secret,
            confirm_form: with(
                FormView::new(
                    c,
                    &format!("{PATH}/two-step/confirm"),
                    "Turn on two-step sign-in",
                    vec![code_field()],
                ),
                "confirm",
            ),
        });
    } else {
        v.start_form = Some(FormView::new(
            c,
            &format!("{PATH}/two-step/start"),
            "Set up an authenticator app",
            vec![],
        ));
    }
    Ok(v)
}

fn passkeys_view(app: &Context, c: &Ctx, errs: &[FieldError], form: &str) -> Result<PasskeysView> {
    let status = two_step::status(app, &c.user)?;
    let list = passkeys::list(app, &c.session.principal)?;
    let rows = list
        .into_iter()
        .map(|k| PasskeyRow {
            action: format!("{PATH}/passkeys/{}/remove", k.id),
            confirm: format!("Remove the passkey \u{201c}{}\u{201d}?", k.name),
            created: when(&c.user, k.created_since),
            last_used: k.last_used_since.map(|t| when(&c.user, t)),
            id: k.id,
            name: k.name,
        })
        .collect::<Vec<_>>();
    Ok(PasskeysView {
        available: passkeys::available(app),
        sso_managed: status.sso_managed,
        code: status.enabled,
        rows,
        csrf_token: c.session.csrf_token.clone(),
        error: (form == "passkey")
            .then(|| {
                errs.iter()
                    .map(|e| super::sentence(&e.message))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|e| !e.is_empty()),
    })
}

fn security_page(
    app: &Context,
    req: &Req,
    c: &Ctx,
    errs: &[FieldError],
    form: &str,
    status: u16,
) -> Result<Resp> {
    let token = req.cookie(SESSION_COOKIE).unwrap_or_default();
    let sessions = me::active_sessions(app, &c.session.principal, token)?;
    let view = SecurityView {
        two_step: two_step_view(app, c, errs, form)?,
        passkeys: passkeys_view(app, c, errs, form)?,
        others: sessions.iter().any(|s| !s.current),
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                current: s.current,
                created: when(&c.user, s.created_at),
                last_seen: when(&c.user, s.last_seen_at),
                expires: when(&c.user, s.expires_at),
            })
            .collect(),
        sign_out_form: FormView::new(
            c,
            &format!("{PATH}/sign-out-others"),
            "Sign out other sessions",
            vec![],
        )
        .confirm("Sign out every other browser where you are signed in?"),
    };
    let notice = match req.query_param("notice").as_deref() {
        Some("signed_out_others") => Some("You are now signed out everywhere else."),
        Some("two_step_started") => {
            Some("Scan the QR code with your authenticator app, then enter the code it shows.")
        }
        Some("two_step_disabled") => {
            Some("Two-step sign-in is off. Your password alone signs you in.")
        }
        Some("passkey_added") => Some("The passkey is added. It signs you in without a password, and as the second step after one."),
        Some("passkey_removed") => Some("The passkey is removed."),
        _ => notice_text(req),
    };
    render(
        app,
        c,
        Page {
            title: "Security",
            template: "settings/security",
            data: &view,
            notice,
            learn_more: Some(LEARN),
            status,
        },
    )
}

/// `GET /settings/personal/security`: two-step sign-in, active sessions.
pub fn security(app: &Context, req: &Req) -> Result<Resp> {
    let c = signed_in!(app, req);
    security_page(app, req, &c, &[], "", 200)
}

/// `POST …/security/sign-out-others`.
pub fn sign_out_others(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let token = req.cookie(SESSION_COOKIE).unwrap_or_default();
    me::sign_out_other_sessions(app, &c.session.principal, token)?;
    Ok(done(PATH, "signed_out_others"))
}

/// The words for a failed step, beside the code field.
fn as_field_errors(e: Error) -> Result<Vec<FieldError>> {
    match e {
        Error::Validation(errs) => Ok(errs),
        Error::TwoStep {
            code: "two_step_code_invalid",
            ..
        } => Ok(vec![FieldError::new(
            "code",
            "this code is wrong or was already used; enter the current code from your authenticator app",
        )]),
        Error::TwoStep { message, .. } => Ok(vec![FieldError::new("form", message)]),
        Error::RateLimited { retry_after_secs } => Ok(vec![FieldError::new(
            "code",
            format!("too many attempts; try again in {retry_after_secs} seconds"),
        )]),
        other => Err(other),
    }
}

/// `POST …/security/two-step/start`: a new secret; the page then shows it until confirmed.
pub fn start(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match two_step::start_enrolment(app, &c.session.principal) {
        Ok(_) => Ok(done(PATH, "two_step_started")),
        Err(e) => {
            let errs = as_field_errors(e)?;
            security_page(app, req, &c, &errs, "start", 409)
        }
    }
}

fn recovery_page(
    app: &Context,
    c: &Ctx,
    heading: &'static str,
    intro: &'static str,
    codes: Vec<String>,
) -> Result<Resp> {
    let v = RecoveryView {
        heading,
        intro,
        codes_text: codes.join("\n"),
        codes,
    };
    render(
        app,
        c,
        Page {
            title: heading,
            template: "settings/recovery_codes",
            data: &v,
            notice: None,
            learn_more: Some(LEARN),
            status: 200,
        },
    )
}

fn posted_code(req: &Req) -> String {
    req.form().get("code").cloned().unwrap_or_default()
}

/// `POST …/security/two-step/confirm` (`code`): on, and the recovery codes shown once.
pub fn confirm(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match two_step::confirm_enrolment(app, &c.session.principal, &posted_code(req)) {
        Ok(codes) => recovery_page(
            app,
            &c,
            "Two-step sign-in is on",
            "From now on, signing in asks for a code from your authenticator app after your password.",
            codes,
        ),
        Err(e) => {
            let errs = as_field_errors(e)?;
            security_page(app, req, &c, &errs, "confirm", 422)
        }
    }
}

/// `POST …/security/two-step/recovery-codes` (`code`): new recovery codes, shown once.
pub fn regenerate(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match two_step::regenerate_recovery_codes(app, &c.session.principal, &posted_code(req)) {
        Ok(codes) => recovery_page(
            app,
            &c,
            "New recovery codes",
            "Your old recovery codes no longer work.",
            codes,
        ),
        Err(e) => {
            let errs = as_field_errors(e)?;
            security_page(app, req, &c, &errs, "regenerate", 422)
        }
    }
}

/// `POST …/security/two-step/disable` (`code`).
pub fn disable(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    match two_step::disable(app, &c.session.principal, &posted_code(req)) {
        Ok(()) => Ok(done(PATH, "two_step_disabled")),
        Err(e) => {
            let errs = as_field_errors(e)?;
            security_page(app, req, &c, &errs, "disable", 422)
        }
    }
}

/// `POST …/security/passkeys/{passkey}/remove`, confirmed with `ceremony` and `credential`
/// of a fresh passkey check, or with `code` (authenticator or recovery code).
pub fn remove_passkey(app: &Context, req: &Req) -> Result<Resp> {
    let c = match posted(app, req)? {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    let form = req.form();
    let ceremony = form.get("ceremony").cloned().unwrap_or_default();
    let credential: serde_json::Value = form
        .get("credential")
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or_default();
    let code = form.get("code").cloned().unwrap_or_default();
    let proof = if !code.trim().is_empty() {
        Some(passkeys::Proof::Code(&code))
    } else {
        (!ceremony.is_empty()).then(|| passkeys::Proof::Passkey {
            ceremony: &ceremony,
            credential: &credential,
        })
    };
    match passkeys::remove(app, &c.session.principal, req.param("passkey"), proof) {
        Ok(()) => Ok(done(PATH, "passkey_removed")),
        Err(Error::NotFound) => Err(Error::NotFound),
        Err(e) => {
            let errs = match e {
                Error::TwoStep {
                    code: "passkey_verification_required",
                    ..
                } => vec![FieldError::new(
                    "form",
                    if two_step::status(app, &c.user)?.enabled {
                        "removing a passkey needs a fresh second step; confirm with a passkey, or enter a code from your authenticator app"
                    } else {
                        "removing a passkey needs a fresh second step; confirm with a passkey"
                    },
                )],
                Error::TwoStep {
                    code: "two_step_code_invalid",
                    message,
                } => vec![FieldError::new("form", message)],
                Error::TwoStep { .. } => vec![FieldError::new(
                    "form",
                    "the passkey check did not succeed; try again",
                )],
                other => as_field_errors(other)?,
            };
            security_page(app, req, &c, &errs, "passkey", 422)
        }
    }
}
