//! The parts of WASI every plugin is granted: `wasi:clocks` (wall-clock and monotonic-clock
//! `now` and `resolution`) and `wasi:random` (`random`, `insecure`, `insecure-seed`), for
//! whatever `0.2.x` version a component imports. They give a plugin nothing the `host`
//! interface does not already give (`now-unix-ms`, `random-bytes`), but through the standard
//! imports, so ordinary Rust (`SystemTime::now()`, `HashMap`, `Instant`, crates that ask
//! `getrandom`) works in plugins. Everything else of WASI stays a trap (see
//! `define_other_imports_as_traps`): no files, environment, stdio or sockets, and no
//! `subscribe-*` (a plugin cannot sleep or wait on a clock).
//!
//! Both clocks are cut to whole microseconds: enough for tokens, expiries and durations,
//! and no fine-grained timer for timing attacks on the host.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::{ComponentType, LinkerInstance, Lower};
use wasmtime::StoreContextMut;

use super::host_api::HostState;

/// The clocks' granularity, in nanoseconds.
const GRANULARITY_NS: u64 = 1_000;

/// The most random bytes one call may ask for (the list is built in host memory first).
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// The granted interfaces (without their version) and the functions granted in each.
const GRANTS: &[(&str, &[&str])] = &[
    ("wasi:clocks/wall-clock", &["now", "resolution"]),
    ("wasi:clocks/monotonic-clock", &["now", "resolution"]),
    (
        "wasi:random/random",
        &["get-random-bytes", "get-random-u64"],
    ),
    (
        "wasi:random/insecure",
        &["get-insecure-random-bytes", "get-insecure-random-u64"],
    ),
    ("wasi:random/insecure-seed", &["insecure-seed"]),
];

/// The functions of import `name` (`wasi:clocks/wall-clock@0.2.3`) the host grants, when it
/// is a WASI 0.2 interface with granted functions.
pub(super) fn granted_functions(name: &str) -> Option<&'static [&'static str]> {
    let (interface, version) = name.split_once('@')?;
    if !version.starts_with("0.2.") {
        return None;
    }
    GRANTS
        .iter()
        .find(|(i, _)| *i == interface)
        .map(|(_, funcs)| *funcs)
}

/// `wasi:clocks/wall-clock.datetime`.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct Datetime {
    seconds: u64,
    nanoseconds: u32,
}

/// Defines function `func` of the granted import `interface` (`wasi:…@0.2.x`) in `linker`.
/// Answers false when the host does not grant that function (it is then left to trap).
pub(super) fn define(
    linker: &mut LinkerInstance<'_, HostState>,
    interface: &str,
    func: &str,
) -> wasmtime::Result<bool> {
    let Some(funcs) = granted_functions(interface) else {
        return Ok(false);
    };
    if !funcs.contains(&func) {
        return Ok(false);
    }
    let base = interface.split_once('@').map_or(interface, |(i, _)| i);
    type Cx<'a> = StoreContextMut<'a, HostState>;
    match (base, func) {
        ("wasi:clocks/wall-clock", "now") => linker.func_wrap(func, |_: Cx<'_>, (): ()| {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let nanos = u64::from(since.subsec_nanos()) / GRANULARITY_NS * GRANULARITY_NS;
            Ok((Datetime {
                seconds: since.as_secs(),
                nanoseconds: nanos as u32,
            },))
        })?,
        ("wasi:clocks/wall-clock", "resolution") => {
            linker.func_wrap(func, |_: Cx<'_>, (): ()| {
                Ok((Datetime {
                    seconds: 0,
                    nanoseconds: GRANULARITY_NS as u32,
                },))
            })?
        }
        ("wasi:clocks/monotonic-clock", "now") => linker.func_wrap(func, |_: Cx<'_>, (): ()| {
            static START: OnceLock<Instant> = OnceLock::new();
            let nanos = START.get_or_init(Instant::now).elapsed().as_nanos() as u64;
            // Never 0, so a guest's "unset" sentinel cannot collide with a reading.
            Ok((GRANULARITY_NS + nanos / GRANULARITY_NS * GRANULARITY_NS,))
        })?,
        ("wasi:clocks/monotonic-clock", "resolution") => {
            linker.func_wrap(func, |_: Cx<'_>, (): ()| Ok((GRANULARITY_NS,)))?
        }
        ("wasi:random/random", "get-random-bytes")
        | ("wasi:random/insecure", "get-insecure-random-bytes") => {
            linker.func_wrap(func, |_: Cx<'_>, (len,): (u64,)| {
                if len > MAX_RANDOM_BYTES {
                    return Err(wasmtime::Error::msg(format!(
                        "asked for {len} random bytes at once (at most {MAX_RANDOM_BYTES})"
                    )));
                }
                let mut buf = vec![0u8; len as usize];
                crate::crypto::fill_random(&mut buf);
                Ok((buf,))
            })?
        }
        ("wasi:random/random", "get-random-u64")
        | ("wasi:random/insecure", "get-insecure-random-u64") => {
            linker.func_wrap(func, |_: Cx<'_>, (): ()| Ok((random_u64(),)))?
        }
        ("wasi:random/insecure-seed", "insecure-seed") => linker
            .func_wrap(func, |_: Cx<'_>, (): ()| {
                Ok(((random_u64(), random_u64()),))
            })?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Eight bytes from the operating system's generator (also for the `insecure` functions:
/// there is no reason to give a plugin weaker randomness).
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    crate::crypto::fill_random(&mut b);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::granted_functions;

    #[test]
    fn only_clocks_and_random_of_wasi_0_2_are_granted() {
        assert_eq!(
            granted_functions("wasi:clocks/wall-clock@0.2.0"),
            Some(&["now", "resolution"][..])
        );
        assert!(granted_functions("wasi:clocks/monotonic-clock@0.2.6")
            .is_some_and(|f| !f.contains(&"subscribe-duration")));
        assert!(granted_functions("wasi:random/insecure-seed@0.2.3").is_some());
        assert!(granted_functions("wasi:clocks/wall-clock@0.3.0").is_none());
        assert!(granted_functions("wasi:clocks/wall-clock").is_none());
        for denied in [
            "wasi:filesystem/types@0.2.0",
            "wasi:filesystem/preopens@0.2.0",
            "wasi:cli/environment@0.2.0",
            "wasi:sockets/tcp@0.2.0",
            "wasi:io/poll@0.2.0",
            "wasi:cli/stderr@0.2.6",
        ] {
            assert!(granted_functions(denied).is_none(), "{denied}");
        }
    }
}
