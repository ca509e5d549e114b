//! Benchmark of a plugin hook call: a fresh store, instantiation of the component from its
//! `InstancePre`, one call, and drop — what every hook call pays. Uses the fixture plugin's
//! `email-delivery` hook in mode `ok` (it returns at once without calling the host), and as
//! the reference in the same run, instantiate-and-drop without any call.
//!
//! Usage: cargo run --release --example plugin_call -- FIXTURE.wasm [ITERATIONS]
//! (scripts/bench-plugins.sh builds the fixture and runs this.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenantry::config::PluginConfig;
use tenantry::plugin_host::PluginHost;
use tenantry::service::hooks::{EmailMessage, EmailOutcome, HookKind, Hooks};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    println!(
        "{name:<28} mean {:>7.1} µs   p50 {:>7.1} µs   p99 {:>7.1} µs   (n = {})",
        mean.as_secs_f64() * 1e6,
        percentile(&samples, 0.50).as_secs_f64() * 1e6,
        percentile(&samples, 0.99).as_secs_f64() * 1e6,
        samples.len()
    );
    percentile(&samples, 0.50)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let file = args
        .get(1)
        .expect("usage: plugin_call FIXTURE.wasm [ITERATIONS]");
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dir = std::env::temp_dir().join(format!("tenantry-plugin-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store = Arc::new(tenantry::store::Store::open(&dir).expect("store"));
    let cfg = PluginConfig {
        name: "fixture".into(),
        file: file.into(),
        allowed_hosts: Vec::new(),
        settings: Default::default(),
        memory_mib: 64,
        timeout_ms: 5000,
        http_timeout_ms: 3000,
        http_max_response_kib: 1024,
        max_concurrent_calls: 4,
    };
    let host = PluginHost::load(
        &[cfg],
        &dir,
        Arc::new(tenantry::service::plugin_kv::StoreKv::new(store)),
        &tenantry::tls::TrustRoots::bundled(),
    )
    .expect("plugin host");
    assert!(
        host.supports("fixture", HookKind::EmailDelivery),
        "{:?}",
        host.status()
    );
    let msg = EmailMessage {
        id: "bench-1".into(),
        template: "bench".into(),
        sender: "bench@example.test".into(),
        recipient: "ok@example.test".into(),
        subject: "Benchmark".into(),
        text: "Hello".into(),
        html: "<p>Hello</p>".into(),
        attempt: 1,
    };
    // Warm-up: fault in the pool slots and code pages.
    for _ in 0..1000 {
        host.instantiate_only("fixture", HookKind::EmailDelivery)
            .expect("instantiate");
        assert_eq!(
            host.email_deliver("fixture", &msg).expect("call"),
            EmailOutcome::Delivered(Some("fixture-1".into()))
        );
    }
    let mut inst = Vec::with_capacity(n);
    let mut call = Vec::with_capacity(n);
    // Interleave the two so both see the same machine conditions.
    for _ in 0..n {
        let t = Instant::now();
        host.instantiate_only("fixture", HookKind::EmailDelivery)
            .expect("instantiate");
        inst.push(t.elapsed());
        let t = Instant::now();
        host.email_deliver("fixture", &msg).expect("call");
        call.push(t.elapsed());
    }
    println!("plugin hook call benchmark ({file})");
    let a = report("store + instantiate + drop", inst);
    let b = report("… + one no-op hook call", call);
    println!(
        "ratio call / instantiate (p50): {:.2}; target: a no-op call ≤ 50 µs — {}",
        b.as_secs_f64() / a.as_secs_f64(),
        if b <= Duration::from_micros(50) {
            "met"
        } else {
            "NOT met"
        }
    );
    let _ = std::fs::remove_dir_all(&dir);
}
