//! `tenantry plugin check`: which worlds a component implements, what it imports, and
//! whether the host can run it.

use std::path::Path;

use serde::Serialize;

use super::bindings::exports::tenantry::plugin::{
    billing_hooks, email_hooks, sso_extras, sso_hooks,
};

/// What `plugin check` found.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// Worlds whose exports the component provides with the right types.
    pub worlds: Vec<&'static str>,
    /// Each import and how the host satisfies it.
    pub imports: Vec<ImportStatus>,
    /// Names the component exports.
    pub exports: Vec<String>,
    /// Optional interfaces it exports (`sso-extras`, since 2.1.0).
    pub extras: Vec<&'static str>,
    /// Reasons the host cannot use it (empty = usable).
    pub problems: Vec<String>,
}

/// One import of a component.
#[derive(Debug, Serialize)]
pub struct ImportStatus {
    /// The import's name, e.g. `tenantry:plugin/host@2.1.0`.
    pub name: String,
    /// `granted` (the host implements it: `tenantry:plugin/host`, and of WASI the clocks'
    /// `now`/`resolution` and `wasi:random`), `partly granted` (the functions in `traps`
    /// trap, e.g. the clocks' `subscribe-*`) or `trap` (defined as functions that trap).
    pub provided_as: &'static str,
    /// For `partly granted`: the functions defined as traps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traps: Vec<String>,
}

impl Inspection {
    /// Whether the component satisfies the contract.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Compiles and links a component the way the server would, without running it.
pub fn inspect(file: &Path) -> Result<Inspection, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let engine = super::new_engine(&[]).map_err(|e| e.to_string())?;
    let component = wasmtime::component::Component::new(&engine, &bytes).map_err(|e| {
        format!(
            "{} is not a WebAssembly component this host can compile: {e:#}",
            file.display()
        )
    })?;
    let ty = component.component_type();
    let mut problems = Vec::new();
    let imports: Vec<ImportStatus> = ty
        .imports(&engine)
        .map(|(name, item)| {
            let (provided_as, traps) = super::import_grant(&engine, name, &item.ty);
            if provided_as == "trap" && name.starts_with("tenantry:plugin/") {
                problems.push(format!(
                    "imports {name}, but this host implements tenantry:plugin@{} (and 2.0.0)",
                    super::CONTRACT_VERSION
                ));
            }
            ImportStatus {
                name: name.to_string(),
                provided_as,
                traps,
            }
        })
        .collect();
    let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
    let mut worlds = Vec::new();
    let mut extras = Vec::new();
    match super::link(&engine, &component) {
        Ok(pre) => {
            if sso_hooks::GuestIndices::new(&pre).is_ok() {
                worlds.push("sso");
                if sso_extras::GuestIndices::new(&pre).is_ok() {
                    extras.push("sso-extras");
                }
            }
            if billing_hooks::GuestIndices::new(&pre).is_ok() {
                worlds.push("billing-profile");
            }
            if email_hooks::GuestIndices::new(&pre).is_ok() {
                worlds.push("email-delivery");
            }
        }
        Err(e) => problems.push(format!("cannot be linked: {e:#}")),
    }
    if worlds.is_empty() {
        problems.push(
            "exports none of tenantry:plugin/sso-hooks, billing-hooks or email-hooks @2.x \
             with the contract's types"
                .into(),
        );
    }
    Ok(Inspection {
        worlds,
        imports,
        exports,
        extras,
        problems,
    })
}
