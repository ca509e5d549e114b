//! Host-side bindings generated from `plugins/wit` for a world that has every hook, so one
//! set of types serves every plugin; each plugin's exports are looked up per interface.

wasmtime::component::bindgen!({
    path: "plugins/wit",
    inline: "
        package tenantry:host;
        world any-plugin {
            import tenantry:plugin/host@2.0.0;
            export tenantry:plugin/sso-hooks@2.0.0;
            export tenantry:plugin/billing-hooks@2.0.0;
            export tenantry:plugin/email-hooks@2.0.0;
        }
    ",
    world: "tenantry:host/any-plugin",
});
