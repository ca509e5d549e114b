//! Plugin key-value storage on the database, for the plugin host.

use std::sync::Arc;

use crate::error::Result;
use crate::service::hooks::PluginKv;
use crate::store::Store;

/// Most keys one plugin may hold.
pub const MAX_KEYS: i64 = 10_000;

/// [`PluginKv`] backed by the `plugin_kv` table.
pub struct StoreKv {
    store: Arc<Store>,
}

impl StoreKv {
    /// Storage on `store`.
    pub fn new(store: Arc<Store>) -> Self {
        StoreKv { store }
    }
}

impl PluginKv for StoreKv {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.store.read(|c| c.plugin_kv_get(plugin, key))
    }

    fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
    ) -> Result<std::result::Result<(), String>> {
        let now = crate::service::now();
        self.store
            .write(|tx| tx.plugin_kv_set(plugin, key, value, MAX_KEYS, now))
    }

    fn delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.store.write(|tx| tx.plugin_kv_delete(plugin, key))
    }
}
