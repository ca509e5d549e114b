//! Host-side bindings generated from `plugins/wit` for a world that has every hook, so one
//! set of types serves every plugin; each plugin's exports are looked up per interface.
//! Names are matched semver-compatibly by wasmtime: a component built against 2.0.0 (which
//! imports `host@2.0.0` and exports `sso-hooks@2.0.0`) links against these 2.1.0 definitions;
//! it simply has no `sso-extras`, which is optional.

wasmtime::component::bindgen!({
    path: "plugins/wit",
    inline: "
        package tenantry:host;
        world any-plugin {
            import tenantry:plugin/host@2.1.0;
            export tenantry:plugin/sso-hooks@2.1.0;
            export tenantry:plugin/sso-extras@2.1.0;
            export tenantry:plugin/billing-hooks@2.1.0;
            export tenantry:plugin/email-hooks@2.1.0;
        }
    ",
    world: "tenantry:host/any-plugin",
});
