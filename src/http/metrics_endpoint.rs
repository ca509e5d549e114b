//! `/metrics`: the Prometheus scrape, on the main listener when `metrics.bearer_token` is
//! set (and then only with it), and on the separate `metrics.listen` listener (with the
//! token too when one is set). Not served at all when neither is configured.

use super::problem;
use super::response::Resp;
use crate::metrics::Sample;
use crate::service::Context;

/// The scrape answer for a request bearing `authorization` (the header's value).
pub fn answer(app: &Context, authorization: Option<&str>) -> Resp {
    if let Some(token) = &app.config.metrics_token {
        let presented = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !crate::crypto::secrets_equal(presented.as_bytes(), token.expose().as_bytes()) {
            return problem::http(
                401,
                "unauthenticated",
                "Authentication required",
                "/metrics needs the metrics token: Authorization: Bearer <metrics.bearer_token>",
            )
            .header("WWW-Authenticate", "Bearer realm=\"metrics\"");
        }
    }
    let backlog = match app.store.read(|c| c.email_status_counts()) {
        Ok(counts) => counts
            .iter()
            .filter(|(status, _)| status.awaits_delivery())
            .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
            .sum(),
        Err(e) => {
            log::warn!("metrics: cannot count the outbox: {e}");
            0
        }
    };
    let (key_hits, key_misses) = app.keys.lookups();
    let text = app.metrics.render(Sample {
        hasher_queue: app.hasher.queue_depth() as u64,
        outbox_backlog: backlog,
        key_hits,
        key_misses,
    });
    Resp::new(200)
        .header("Content-Type", crate::metrics::CONTENT_TYPE)
        .header("Cache-Control", "no-store")
        .body(text.into_bytes())
}
