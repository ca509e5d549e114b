//! Library fences from STYLE.md: storage, HTTP and plugin-engine crates are named only inside
//! their own module, and the use cases (`src/service`) never reach up to the composition root
//! (`crate::app`), the HTTP layer or the command line, so a leak fails the build's test run.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The files under `src/dir` that name any of `modules` (`crate::app`, `super::super::app` …).
fn files_naming(dir: &str, modules: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src").join(dir), &mut files);
    files
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            modules.iter().any(|m| {
                text.contains(&format!("crate::{m}::"))
                    || text.contains(&format!("crate::{m}}}"))
                    || text.contains(&format!("crate::{m};"))
                    || text.contains(&format!("crate::{{{m}"))
                    || text.contains(&format!("crate::{m},"))
            })
        })
        .map(|f| f.strip_prefix(root).unwrap_or(&f).display().to_string())
        .collect()
}

#[test]
fn services_do_not_depend_on_the_composition_root_or_callers() {
    // The use cases take a `service::Context`; `app.rs` builds it, `http` and `cli` call them.
    assert_eq!(
        files_naming("service", &["app", "http", "cli", "runtime"]),
        Vec::<String>::new()
    );
}

#[test]
fn the_layer_check_sees_real_uses() {
    // Guards against a check that cannot fail: the HTTP layer does name the service layer,
    // and the composition root names the service context.
    assert!(!files_naming("http", &["service"]).is_empty());
    assert!(files_naming("", &["app"]).contains(&"src/cli.rs".to_string()));
}

/// Finds the files under `src/` that mention `krate` outside `home`.
fn leaks(krate: &str, home: &str) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let patterns = [
        format!("{krate}::"),
        format!("use {krate}"),
        format!("extern crate {krate}"),
    ];
    files
        .into_iter()
        .filter(|f| !f.starts_with(root.join(home)))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            patterns.iter().any(|p| text.contains(p.as_str()))
        })
        .map(|f| f.strip_prefix(root).unwrap_or(&f).display().to_string())
        .collect()
}

#[test]
fn rusqlite_stays_in_store() {
    assert_eq!(leaks("rusqlite", "src/store"), Vec::<String>::new());
}

#[test]
fn tiny_http_stays_in_http() {
    assert_eq!(leaks("tiny_http", "src/http"), Vec::<String>::new());
}

#[test]
fn wasmtime_stays_in_plugin_host() {
    assert_eq!(leaks("wasmtime", "src/plugin_host"), Vec::<String>::new());
}

#[test]
fn the_fence_check_sees_real_uses() {
    // Guards against a check that cannot fail: the store itself does name rusqlite.
    assert!(!leaks("rusqlite", "src/http").is_empty());
}

#[test]
fn wasmtime_is_really_used_by_the_plugin_host() {
    // The wasmtime fence above cannot pass vacuously: the host does name it.
    assert!(!leaks("wasmtime", "src/http").is_empty());
}

/// Files under `src/` with an `unsafe` block or an `allow(unsafe_code)`.
fn unsafe_files() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains("unsafe {") || text.contains("allow(unsafe_code)")
        })
        .map(|f| f.strip_prefix(root).unwrap_or(&f).display().to_string())
        .collect()
}

#[test]
fn unsafe_code_is_only_the_plugin_cache_load() {
    // The crate denies unsafe code; the one allowed exception is loading a compiled plugin
    // from the compile cache, which wasmtime marks unsafe (see its SAFETY comment).
    assert_eq!(
        unsafe_files(),
        vec!["src/plugin_host/engine.rs".to_string()]
    );
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plugin_host/engine.rs"),
    )
    .unwrap();
    assert_eq!(text.matches("unsafe {").count(), 1, "one unsafe block");
}
