//! The host calls: the `host` interface inside a component, the thread's mock host under
//! native tests.

#[cfg(target_arch = "wasm32")]
mod imp {
    use crate::http::{HttpError, Request, Response};
    use crate::wit::host::{self, LogLevel};

    pub fn log(level: log::Level, message: &str) {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        host::log(level, message);
    }

    pub fn setting(name: &str) -> Option<String> {
        host::setting(name)
    }

    pub fn kv_get(key: &str) -> Option<Vec<u8>> {
        host::kv_get(key)
    }

    pub fn kv_set(key: &str, value: &[u8]) -> Result<(), String> {
        host::kv_set(key, value)
    }

    pub fn kv_delete(key: &str) {
        host::kv_delete(key)
    }

    pub fn now_unix_ms() -> i64 {
        host::now_unix_ms()
    }

    pub fn random_bytes(len: u32) -> Vec<u8> {
        host::random_bytes(len)
    }

    pub fn http_send(request: &Request) -> Result<Response, HttpError> {
        let wire = host::HttpRequest {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        match host::http_send(&wire) {
            Ok(r) => Ok(Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }),
            Err(e) => Err(match e {
                host::HttpError::ForbiddenHost(h) => HttpError::ForbiddenHost(h),
                host::HttpError::InvalidRequest(why) => HttpError::InvalidRequest(why),
                host::HttpError::Timeout => HttpError::Timeout,
                host::HttpError::TooLarge => HttpError::TooLarge,
                host::HttpError::Transport(why) => HttpError::Transport(why),
            }),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    pub use crate::testing::host::*;
}

pub use imp::*;
