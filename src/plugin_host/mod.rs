//! The WebAssembly plugin host — the only module that names wasmtime. It implements
//! [`crate::service::hooks::Hooks`]: each call gets a fresh `Store` (memory limit, instance
//! and table limits, an epoch deadline) instantiated from the plugin's `InstancePre`, so a
//! trap, a timeout or a limit hit ends that call only. Components are compiled once and
//! cached in `data_dir/plugin-cache`.
//!
//! WASI: plugins are granted the `host` interface, and of WASI only the clocks and
//! randomness (`wasi:clocks` `now`/`resolution`, `wasi:random`; see [`wasi`]), which give
//! nothing `host` does not already give but let ordinary Rust (`SystemTime`, `HashMap`) run.
//! A Rust guest built for `wasm32-wasip2` also imports `wasi:cli` / `wasi:io` functions from
//! its standard library (panic output, exit); those and every other import are defined as
//! functions that trap, so a plugin that tries to use the environment, stdio, files or
//! sockets, or to sleep, stops with a clear error.

mod bindings;
mod calls;
mod dynamic;
mod engine;
mod host_api;
mod inspect;
mod wasi;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::config::PluginConfig;
use crate::service::hooks::{HookError, HookKind, HookResult, PluginKv};

pub use dynamic::Answer;
pub use inspect::{inspect, Inspection};

use bindings::exports::tenantry::plugin::{billing_hooks, email_hooks, sso_extras, sso_hooks};

/// The version of `tenantry:plugin` this host implements (see `plugins/wit/tenantry.wit`).
pub const CONTRACT_VERSION: &str = "2.1.0";

/// Whether the host grants import `name`: `host` and `types` of any 2.x version (wasmtime
/// matches them semver-compatibly to the 2.1.0 definitions).
pub(crate) fn is_granted_import(name: &str) -> bool {
    ["tenantry:plugin/host@2.", "tenantry:plugin/types@2."]
        .iter()
        .any(|p| name.starts_with(p))
}
use host_api::{HostState, Limits};

/// How the host provides one import of a component: `granted` (every function it uses),
/// `partly granted` (the functions named in the second value trap) or `trap`.
pub(crate) fn import_grant(
    engine: &Engine,
    name: &str,
    item: &wasmtime::component::types::ComponentItem,
) -> (&'static str, Vec<String>) {
    use wasmtime::component::types::ComponentItem;
    if is_granted_import(name) {
        return ("granted", Vec::new());
    }
    let Some(granted) = wasi::granted_functions(name) else {
        return ("trap", Vec::new());
    };
    let ComponentItem::ComponentInstance(instance) = item else {
        return ("trap", Vec::new());
    };
    let funcs: Vec<&str> = instance
        .exports(engine)
        .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
        .map(|(n, _)| n)
        .collect();
    let trapping: Vec<String> = funcs
        .iter()
        .filter(|f| !granted.contains(f))
        .map(|f| f.to_string())
        .collect();
    if trapping.is_empty() {
        ("granted", trapping)
    } else if trapping.len() < funcs.len() {
        ("partly granted", trapping)
    } else {
        ("trap", Vec::new())
    }
}

/// A loaded plugin: its configuration, the pre-linked component, and which hooks it has.
pub(crate) struct Loaded {
    config: PluginConfig,
    kv: Arc<dyn PluginKv>,
    agent: ureq::Agent,
    pre: InstancePre<HostState>,
    sso: Option<sso_hooks::GuestIndices>,
    /// The optional 2.1.0 additions to `sso` (absent in components built against 2.0.0).
    sso_extras: Option<sso_extras::GuestIndices>,
    billing: Option<billing_hooks::GuestIndices>,
    email: Option<email_hooks::GuestIndices>,
    /// Calls running now (bounded by `max_concurrent_calls`).
    running: std::sync::atomic::AtomicU64,
}

/// One running call of a plugin; frees its place when dropped.
struct CallSlot<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl Loaded {
    /// Takes a place among the plugin's concurrent calls, or `None` when all are taken.
    fn slot(&self) -> Option<CallSlot<'_>> {
        use std::sync::atomic::Ordering;
        let max = self.config.max_concurrent_calls;
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| CallSlot(&self.running))
    }

    fn worlds(&self) -> Vec<&'static str> {
        let mut w = Vec::new();
        if self.sso.is_some() {
            w.push(HookKind::Sso.world());
        }
        if self.billing.is_some() {
            w.push(HookKind::BillingProfile.world());
        }
        if self.email.is_some() {
            w.push(HookKind::EmailDelivery.world());
        }
        w
    }

    fn has(&self, kind: HookKind) -> bool {
        match kind {
            HookKind::Sso => self.sso.is_some(),
            HookKind::BillingProfile => self.billing.is_some(),
            HookKind::EmailDelivery => self.email.is_some(),
        }
    }
}

enum Slot {
    Ready(Arc<Loaded>),
    Failed { config: PluginConfig, error: String },
}

/// Every configured plugin, loaded once at start.
pub struct PluginHost {
    engine: Engine,
    plugins: BTreeMap<String, Slot>,
    /// Call counts and durations, when the host runs inside the server.
    metrics: Option<crate::metrics::PluginMetrics>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.plugins.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The largest memory limit among the plugins, in bytes (the pool's bound).
fn pool_memory(configs: &[PluginConfig]) -> usize {
    let mib = configs.iter().map(|p| p.memory_mib).max().unwrap_or(64);
    (mib as usize) << 20
}

fn new_engine(configs: &[PluginConfig]) -> crate::error::Result<Engine> {
    let engine = engine::build(pool_memory(configs))
        .map_err(|e| crate::error::Error::internal(format!("plugin engine: {e:#}")))?;
    Ok(engine)
}

impl PluginHost {
    /// Loads every configured plugin. A plugin that fails to load is logged and reported
    /// by [`PluginHost::status`]; calls to it answer `plugin_unavailable`.
    pub fn load(
        configs: &[PluginConfig],
        data_dir: &Path,
        kv: Arc<dyn PluginKv>,
        tls: &crate::tls::TrustRoots,
    ) -> crate::error::Result<PluginHost> {
        let engine = new_engine(configs)?;
        engine::start_ticker(&engine);
        let cache_dir = data_dir.join("plugin-cache");
        let mut plugins = BTreeMap::new();
        for cfg in configs {
            let slot = match load_one(&engine, &cache_dir, cfg, kv.clone(), tls) {
                Ok(loaded) => {
                    log::info!(
                        "plugin {}: ready ({}; may call: {})",
                        cfg.name,
                        loaded.worlds().join(", "),
                        if cfg.allowed_hosts.is_empty() {
                            "no hosts".to_string()
                        } else {
                            cfg.allowed_hosts.join(", ")
                        }
                    );
                    Slot::Ready(Arc::new(loaded))
                }
                Err(error) => {
                    log::error!("plugin {}: not loaded: {error}", cfg.name);
                    Slot::Failed {
                        config: cfg.clone(),
                        error,
                    }
                }
            };
            plugins.insert(cfg.name.clone(), slot);
        }
        Ok(PluginHost {
            engine,
            plugins,
            metrics: None,
        })
    }

    /// Records every hook call (count by outcome, duration) into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::PluginMetrics) -> PluginHost {
        self.metrics = Some(metrics);
        self
    }

    fn ready(&self, name: &str, kind: HookKind) -> HookResult<Arc<Loaded>> {
        match self.plugins.get(name) {
            Some(Slot::Ready(p)) if p.has(kind) => Ok(p.clone()),
            Some(Slot::Ready(_)) => Err(HookError::Unavailable(format!(
                "plugin {name:?} does not implement the {} world",
                kind.world()
            ))),
            Some(Slot::Failed { error, .. }) => Err(HookError::Unavailable(format!(
                "plugin {name:?} failed to load: {error}"
            ))),
            None => Err(HookError::Unavailable(format!(
                "no plugin named {name:?} is configured"
            ))),
        }
    }

    /// Creates a store, instantiates plugin `name` and drops both, calling nothing: the fixed
    /// cost every hook call pays (used by the plugin benchmark as its reference).
    pub fn instantiate_only(&self, name: &str, kind: HookKind) -> HookResult<()> {
        self.call(name, kind, |_, _, _| Ok(()))
    }

    /// Runs `f` against a fresh instance of plugin `name`, within its limits and deadline.
    /// Every hook call passes here: this is where calls are counted and timed.
    fn call<R>(
        &self,
        name: &str,
        kind: HookKind,
        f: impl FnOnce(
            &Loaded,
            &mut Store<HostState>,
            &wasmtime::component::Instance,
        ) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        let started = Instant::now();
        let result = self.call_unmeasured(name, kind, f);
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => outcome_label(e),
            };
            // Only configured plugins get a label: an unknown name is not a new series.
            let plugin = if self.plugins.contains_key(name) {
                name
            } else {
                "unknown"
            };
            m.record(plugin, kind.world(), outcome, started.elapsed());
        }
        result
    }

    fn call_unmeasured<R>(
        &self,
        name: &str,
        kind: HookKind,
        f: impl FnOnce(
            &Loaded,
            &mut Store<HostState>,
            &wasmtime::component::Instance,
        ) -> wasmtime::Result<R>,
    ) -> HookResult<R> {
        let plugin = self.ready(name, kind)?;
        let Some(_slot) = plugin.slot() else {
            log::warn!(
                "plugin {name}: call refused, {} calls already running (max_concurrent_calls)",
                plugin.config.max_concurrent_calls
            );
            return Err(HookError::Busy);
        };
        let timeout = std::time::Duration::from_millis(plugin.config.timeout_ms);
        let mut store = Store::new(
            &self.engine,
            HostState {
                plugin: plugin.clone(),
                limits: Limits {
                    memory: (plugin.config.memory_mib as usize) << 20,
                    memory_hit: false,
                },
                deadline: Instant::now() + timeout,
            },
        );
        store.limiter(|s| &mut s.limits);
        let ticks = timeout.as_millis().div_ceil(engine::TICK.as_millis()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        let result = plugin
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&plugin, &mut store, &instance));
        result.map_err(|e| {
            let err = classify(&e, store.data().limits.memory_hit);
            log::warn!("plugin {name}: call failed: {err} ({e:#})");
            err
        })
    }
}

impl PluginHost {
    /// The hooks (WIT function names) plugin `name` exports, in the order of its exports.
    pub fn hook_names(&self, name: &str) -> Vec<String> {
        match self.plugins.get(name) {
            Some(Slot::Ready(p)) => dynamic::exported_hooks(&self.engine, p.pre.component())
                .into_iter()
                .map(|(_, func, _)| func)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Calls one hook of plugin `name` by its WIT function name (`get-profile`, `start`, …)
    /// with its parameters as a JSON object (see [`dynamic`]) — through the same path as
    /// every server call: a fresh instance, the plugin's limits and deadline, its allowlist.
    /// The outer error is a bad request (unknown hook, input that does not fit the hook's
    /// parameters) and calls nothing.
    pub fn call_by_name(
        &self,
        name: &str,
        hook: &str,
        input: &serde_json::Value,
    ) -> Result<HookResult<Answer>, String> {
        let plugin = match self.plugins.get(name) {
            Some(Slot::Ready(p)) => p.clone(),
            Some(Slot::Failed { error, .. }) => return Err(error.clone()),
            None => return Err(format!("no plugin named {name:?} is loaded")),
        };
        let hooks = dynamic::exported_hooks(&self.engine, plugin.pre.component());
        let Some((interface, func, ty)) = hooks.iter().find(|(_, f, _)| f == hook) else {
            return Err(format!(
                "the component exports no hook `{hook}`; its hooks: {}",
                hooks
                    .iter()
                    .map(|(_, f, _)| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let args = dynamic::arguments(ty, input).map_err(|e| format!("hook `{hook}`: {e}"))?;
        let kind = if interface.starts_with("tenantry:plugin/billing-hooks@") {
            HookKind::BillingProfile
        } else if interface.starts_with("tenantry:plugin/email-hooks@") {
            HookKind::EmailDelivery
        } else {
            HookKind::Sso
        };
        let result_count = ty.results().len();
        Ok(self.call(name, kind, |_, store, instance| {
            let missing = || wasmtime::Error::msg(format!("export {interface}#{func} not found"));
            let iface = instance
                .get_export_index(&mut *store, None, interface)
                .ok_or_else(missing)?;
            let index = instance
                .get_export_index(&mut *store, Some(&iface), func)
                .ok_or_else(missing)?;
            let f = instance.get_func(&mut *store, index).ok_or_else(missing)?;
            let mut results = vec![wasmtime::component::Val::Bool(false); result_count];
            f.call(&mut *store, &args, &mut results)?;
            Ok(dynamic::answer(&results))
        }))
    }
}

/// The metrics label of a failed call (`ok` is a call the plugin answered, whatever its
/// answer says).
fn outcome_label(e: &HookError) -> &'static str {
    match e {
        HookError::Unavailable(_) => "unavailable",
        HookError::Trap(_) => "trap",
        HookError::Timeout => "timeout",
        HookError::MemoryLimit => "memory_limit",
        HookError::Busy => "busy",
        HookError::InvalidOutput(_) => "invalid_output",
        HookError::Plugin { .. } => "plugin_error",
    }
}

/// Maps a wasmtime failure to the typed error of that call.
fn classify(e: &wasmtime::Error, memory_hit: bool) -> HookError {
    if memory_hit || e.downcast_ref::<host_api::MemoryLimitHit>().is_some() {
        return HookError::MemoryLimit;
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        return match trap {
            wasmtime::Trap::Interrupt => HookError::Timeout,
            other => HookError::Trap(other.to_string()),
        };
    }
    let text = format!("{e:#}");
    if text.contains("maximum concurrent") {
        return HookError::Busy;
    }
    HookError::Trap(text.chars().take(500).collect())
}

fn load_one(
    engine: &Engine,
    cache_dir: &Path,
    cfg: &PluginConfig,
    kv: Arc<dyn PluginKv>,
    tls: &crate::tls::TrustRoots,
) -> Result<Loaded, String> {
    let bytes =
        std::fs::read(&cfg.file).map_err(|e| format!("cannot read {}: {e}", cfg.file.display()))?;
    let (component, how, took) = engine::load_component(engine, cache_dir, &bytes)
        .map_err(|e| format!("{} is not a usable component: {e:#}", cfg.file.display()))?;
    match how {
        engine::Compiled::Cached => log::info!(
            "plugin {}: loaded from the compile cache in {} ms",
            cfg.name,
            took.as_millis()
        ),
        engine::Compiled::Fresh => log::info!(
            "plugin {}: compiled in {} ms (cached for the next start)",
            cfg.name,
            took.as_millis()
        ),
    }
    let pre = link(engine, &component).map_err(|e| format!("{e:#}"))?;
    let sso = sso_hooks::GuestIndices::new(&pre).ok();
    let sso_extras = sso
        .as_ref()
        .and_then(|_| sso_extras::GuestIndices::new(&pre).ok());
    if sso.is_some() {
        log::info!(
            "plugin {}: {}",
            cfg.name,
            if sso_extras.is_some() {
                "exports sso-extras (account re-selection, sign-out at the provider, configuration test)"
            } else {
                "exports sso-hooks only (built against tenantry:plugin@2.0.0): no account \
                 re-selection, sign-out at the provider or configuration test"
            }
        );
    }
    let billing = billing_hooks::GuestIndices::new(&pre).ok();
    let email = email_hooks::GuestIndices::new(&pre).ok();
    if sso.is_none() && billing.is_none() && email.is_none() {
        return Err(
            "the component exports none of tenantry:plugin/sso-hooks, billing-hooks or \
             email-hooks @2.x"
                .into(),
        );
    }
    Ok(Loaded {
        config: cfg.clone(),
        kv,
        agent: host_api::agent(tls),
        pre,
        sso,
        sso_extras,
        billing,
        email,
        running: Default::default(),
    })
}

/// Links the `host` interface and the granted WASI functions, and defines every other
/// import as a trap.
fn link(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> wasmtime::Result<InstancePre<HostState>> {
    let mut linker: Linker<HostState> = Linker::new(engine);
    bindings::tenantry::plugin::host::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )?;
    bindings::tenantry::plugin::types::add_to_linker::<HostState, HasSelf<HostState>>(
        &mut linker,
        |s| s,
    )?;
    define_other_imports_as_traps(&mut linker, engine, component)?;
    linker.instantiate_pre(component)
}

/// Defines the granted WASI functions (clocks, randomness: [`wasi::define`]) and every
/// other import the host does not grant as functions that trap. (wasmtime's
/// `define_unknown_imports_as_traps` would also stub `host@2.0.0` of a component built
/// against 2.0.0, shadowing the 2.1.0 `host` the linker otherwise matches to it
/// semver-compatibly.)
fn define_other_imports_as_traps(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    for (name, import) in ty.imports(engine) {
        if is_granted_import(name) {
            continue;
        }
        match import.ty {
            ComponentItem::ComponentInstance(instance) => {
                let mut inner = linker.instance(name)?;
                for (item, export) in instance.exports(engine) {
                    let is_func = matches!(export.ty, ComponentItem::ComponentFunc(_));
                    if is_func && wasi::define(&mut inner, name, item)? {
                        continue;
                    }
                    stub_import(&mut inner, name, item, export.ty)?;
                }
            }
            other => stub_import(&mut linker.root(), "", name, other)?,
        }
    }
    Ok(())
}

/// One import item defined as a trap (a function) or an opaque host resource.
fn stub_import(
    linker: &mut wasmtime::component::LinkerInstance<'_, HostState>,
    parent: &str,
    name: &str,
    item: wasmtime::component::types::ComponentItem,
) -> wasmtime::Result<()> {
    use wasmtime::component::types::ComponentItem;
    match item {
        ComponentItem::ComponentFunc(_) => {
            let full = if parent.is_empty() {
                name.to_string()
            } else {
                format!("{parent}#{name}")
            };
            linker.func_new(name, move |_, _, _, _| {
                Err(wasmtime::Error::msg(format!(
                    "unknown import: `{full}` has not been defined"
                )))
            })
        }
        ComponentItem::Resource(_) => linker.resource(
            name,
            wasmtime::component::ResourceType::host::<()>(),
            |_, _| Ok(()),
        ),
        ComponentItem::Type(_) => Ok(()),
        other => Err(wasmtime::Error::msg(format!(
            "the host cannot provide import `{name}` ({other:?})"
        ))),
    }
}
