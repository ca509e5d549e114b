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

/// [`PluginKv`] in memory, for one process (`tenantry plugin call`): starts empty, is gone
/// when the process ends, and keeps the same key limit as the database.
#[derive(Default)]
pub struct MemoryKv {
    values: std::sync::Mutex<std::collections::BTreeMap<(String, String), Vec<u8>>>,
}

impl PluginKv for MemoryKv {
    fn get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        Ok(values.get(&(plugin.to_string(), key.to_string())).cloned())
    }

    fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
    ) -> Result<std::result::Result<(), String>> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let id = (plugin.to_string(), key.to_string());
        if !values.contains_key(&id) && values.len() as i64 >= MAX_KEYS {
            return Ok(Err(format!("at most {MAX_KEYS} keys per plugin")));
        }
        values.insert(id, value.to_vec());
        Ok(Ok(()))
    }

    fn delete(&self, plugin: &str, key: &str) -> Result<()> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.remove(&(plugin.to_string(), key.to_string()));
        Ok(())
    }
}
