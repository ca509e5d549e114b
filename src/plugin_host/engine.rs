//! The one `Engine`: epoch interruption with a ticker thread, the pooling allocator sized
//! from the configured plugins, and an on-disk cache of compiled components.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const TICK: Duration = Duration::from_millis(5);

/// Instance slots: at most this many plugin calls run at once (more get `plugin_busy`).
pub const MAX_CONCURRENT_CALLS: u32 = 64;

/// Builds the engine. `max_memory` bounds every linear memory in the pool, so a plugin
/// cannot exceed it even if a store's limiter were bypassed.
pub fn build(max_memory: usize) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_CONCURRENT_CALLS)
        // A Rust component built for wasm32-wasip2 is a main module plus a few adapter
        // and shim modules; give each component room for those.
        .max_core_instances_per_component(16)
        .total_core_instances(MAX_CONCURRENT_CALLS * 8)
        .max_memories_per_component(4)
        .max_memories_per_module(1)
        .total_memories(MAX_CONCURRENT_CALLS * 2)
        .max_tables_per_component(16)
        .max_tables_per_module(4)
        .total_tables(MAX_CONCURRENT_CALLS * 8)
        .table_elements(20_000)
        .max_memory_size(max_memory)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        // Keep a little of each slot resident so the next call does not fault it in again.
        .linear_memory_keep_resident(64 << 10)
        .table_keep_resident(16 << 10);
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&cfg)
}

/// Starts the thread that advances the epoch; it ends when the engine is dropped.
pub fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("plugin-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            match weak.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the plugin epoch thread: {e}");
    }
}

/// Whether a component came from the cache or was compiled now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// Loaded from the on-disk cache.
    Cached,
    /// Compiled now (and written to the cache).
    Fresh,
}

/// The cache file for `bytes` under this engine: keyed by the file's SHA-256 and the
/// engine's compatibility hash (wasmtime version and compiler settings).
pub fn cache_path(engine: &Engine, dir: &Path, bytes: &[u8]) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    let file: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("{file}-{:016x}.cwasm", h.finish()))
}

/// Loads a component, from the cache when possible.
pub fn load_component(
    engine: &Engine,
    cache_dir: &Path,
    bytes: &[u8],
) -> wasmtime::Result<(Component, Compiled, Duration)> {
    let started = Instant::now();
    let path = cache_path(engine, cache_dir, bytes);
    if path.exists() {
        match deserialize_cached(engine, &path) {
            Ok(c) => return Ok((c, Compiled::Cached, started.elapsed())),
            Err(e) => {
                log::warn!(
                    "plugin compile cache {} is unusable ({e}); compiling again",
                    path.display()
                );
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    // Compiled once: the cache file is the serialized form of the component in use.
    let component = Component::new(engine, bytes)?;
    let cached = component
        .serialize()
        .and_then(|artifact| Ok(write_cache(cache_dir, &path, &artifact)?));
    if let Err(e) = cached {
        log::warn!("cannot write plugin compile cache {}: {e}", path.display());
    }
    Ok((component, Compiled::Fresh, started.elapsed()))
}

#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: wasmtime requires that the file be an artifact produced by
    // `Component::serialize` (or `Engine::precompile_component`) and not modified since. Only this function's sibling
    // `write_cache` writes into the cache directory, inside the data directory this server
    // owns (created 0700, files 0600, written to a temporary name and renamed into place,
    // so a crash never leaves a partial artifact under a final name). Wasmtime also checks
    // the artifact's header against this engine's version and settings and refuses a
    // mismatch with an error, which the caller handles by compiling again.
    unsafe { Component::deserialize_file(engine, path) }
}

fn write_cache(dir: &Path, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(artifact)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
