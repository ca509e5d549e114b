//! Log lines: `text` (one line per record, `key=value` fields appended) or `json` (one JSON
//! object per line: millisecond UTC timestamp, level, target, message, the record's
//! structured fields as fields). The request ID of the request a worker is handling is kept
//! in a thread-local set by the HTTP dispatcher, so every line logged while handling it
//! carries it, whichever module logs.

use std::cell::RefCell;
use std::io::Write;

use crate::config::LogFormat;

thread_local! {
    static REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks the current thread as handling request `id` until the guard is dropped.
pub fn enter_request(id: &str) -> RequestScope {
    REQUEST_ID.with(|r| *r.borrow_mut() = Some(id.to_string()));
    RequestScope(())
}

/// Clears the thread's request ID when dropped (also when a handler panics).
pub struct RequestScope(());

impl Drop for RequestScope {
    fn drop(&mut self) {
        REQUEST_ID.with(|r| *r.borrow_mut() = None);
    }
}

/// The ID of the request this thread is handling, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.with(|r| r.borrow().clone())
}

/// Collects a record's structured fields.
struct Fields(Vec<(String, serde_json::Value)>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let v = if let Some(n) = value.to_u64() {
            serde_json::Value::from(n)
        } else if let Some(n) = value.to_i64() {
            serde_json::Value::from(n)
        } else if let Some(b) = value.to_bool() {
            serde_json::Value::from(b)
        } else if let Some(f) = value.to_f64() {
            serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        } else {
            serde_json::Value::from(value.to_string())
        };
        self.0.push((key.as_str().to_string(), v));
        Ok(())
    }
}

fn fields(rec: &log::Record<'_>) -> Vec<(String, serde_json::Value)> {
    let mut f = Fields(Vec::new());
    let _ = rec.key_values().visit(&mut f);
    f.0
}

/// One JSON log line (without the newline).
pub fn json_line(rec: &log::Record<'_>, request_id: Option<&str>) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert(
        "ts".into(),
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
            .into(),
    );
    obj.insert("level".into(), rec.level().as_str().into());
    obj.insert("target".into(), rec.target().into());
    obj.insert("msg".into(), rec.args().to_string().into());
    if let Some(id) = request_id {
        obj.insert("request_id".into(), id.into());
    }
    for (k, v) in fields(rec) {
        // The fixed keys stay what they are; a field of the same name is kept beside them.
        let key = if obj.contains_key(&k) {
            format!("field_{k}")
        } else {
            k
        };
        obj.insert(key, v);
    }
    serde_json::Value::Object(obj).to_string()
}

/// One text log line (without the newline).
pub fn text_line(rec: &log::Record<'_>, request_id: Option<&str>) -> String {
    let mut line = format!(
        "[{} {:<5} {}] {}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        rec.level(),
        rec.target(),
        rec.args()
    );
    for (k, v) in fields(rec) {
        match v {
            serde_json::Value::String(s) => line.push_str(&format!(" {k}={s:?}")),
            other => line.push_str(&format!(" {k}={other}")),
        }
    }
    if let Some(id) = request_id {
        line.push_str(&format!(" request_id={id}"));
    }
    line
}

/// Installs the logger (level from `RUST_LOG`, default info) writing `format` to stderr.
pub fn init(format: LogFormat) {
    let mut b = env_logger::Builder::new();
    b.filter_level(log::LevelFilter::Info);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    // Template and HTTP-client crates may log rendered data at trace level: keep them quiet.
    b.filter_module("handlebars", log::LevelFilter::Warn);
    b.format(move |buf, rec| {
        let id = current_request_id();
        let line = match format {
            LogFormat::Json => json_line(rec, id.as_deref()),
            LogFormat::Text => text_line(rec, id.as_deref()),
        };
        writeln!(buf, "{line}")
    });
    let _ = b.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_fields_as_fields_and_the_request_id() {
        let kvs: [(&str, log::kv::Value<'_>); 3] = [
            ("method", log::kv::Value::from("GET")),
            ("status", log::kv::Value::from(200u16)),
            ("msg", log::kv::Value::from("shadow")),
        ];
        let args = format_args!("hello");
        let rec = log::Record::builder()
            .args(args)
            .level(log::Level::Info)
            .target("tenantry::access")
            .key_values(&kvs)
            .build();
        let v: serde_json::Value = serde_json::from_str(&json_line(&rec, Some("r-1"))).unwrap();
        assert_eq!(v["method"], "GET");
        assert_eq!(v["status"], 200);
        assert_eq!(v["msg"], "hello");
        assert_eq!(v["field_msg"], "shadow");
        assert_eq!(v["request_id"], "r-1");
        let ts = v["ts"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000Z".len(), "{ts}");
        let text = text_line(&rec, Some("r-1"));
        assert!(
            text.ends_with("hello method=\"GET\" status=200 msg=\"shadow\" request_id=r-1"),
            "{text}"
        );
    }
}
