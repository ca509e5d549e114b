//! Layers, typed sections and validation of the configuration.

use super::*;

fn cfg(file: &str, env: &[(&str, &str)]) -> Result<Config> {
    layered(file, env, &[])
}

/// The config of a file with `file` as its text, an environment and flags, as `cli` builds it.
fn layered(file: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> Result<Config> {
    let dir = std::env::temp_dir().join(format!("tenantry-cfg-{}", crate::crypto::new_id("t")));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tenantry.toml");
    std::fs::write(&path, file).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let lookup = move |k: &str| env.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone());
    let loaded = RawConfig::load(Some(&path), &lookup);
    let _ = std::fs::remove_dir_all(&dir);
    let mut raw = loaded?;
    for (k, v) in flags {
        raw.set(k, v.to_string(), "flag");
    }
    Config::from_raw(&raw)
}

fn problem(file: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> String {
    match layered(file, env, flags) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults() {
    let c = cfg("", &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.data_dir, PathBuf::from("./data"));
    assert_eq!(c.read_timeout_secs, 15);
    assert_eq!(c.invitation_ttl_hours, 168);
    assert_eq!(c.public_url_for(c.listen), "http://127.0.0.1:8080");
}

#[test]
fn env_overrides_file() {
    let c = cfg(
        "listen = \"127.0.0.1:9000\"\n[http]\nread_timeout_secs = 5\n",
        &[("TENANTRY_HTTP_READ_TIMEOUT_SECS", "7")],
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.read_timeout_secs, 7);
}

#[test]
fn unknown_and_bad_keys_are_reported() {
    let e = cfg("lisen = \"x\"", &[]).unwrap_err().to_string();
    assert!(e.contains("unknown key `lisen`"), "{e}");
    let e = cfg(
        "",
        &[
            ("TENANTRY_HTTP_READ_TIMEOUT_SECS", "soon"),
            ("TENANTRY_LISTEN", "nowhere"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("http.read_timeout_secs") && e.contains("`listen`"),
        "{e}"
    );
}

#[test]
fn proxies_metrics_and_log_format_are_validated() {
    let c = cfg(
        "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7/24\"]\nforwarded_header = \"forwarded\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nbearer_token = \"0123456789abcdef-token\"\n[log]\nformat = \"json\"\n",
        &[],
    )
    .unwrap();
    let nets: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["10.0.0.0/8", "::1/128", "192.168.1.0/24"]);
    assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
    assert!(c.metrics_listen.is_some());
    assert_eq!(c.log_format, LogFormat::Json);
    assert!(!format!("{c:?}").contains("abcdef-token"));
    let c = cfg(
        "",
        &[("TENANTRY_HTTP_TRUSTED_PROXIES", "127.0.0.1/32, 10.1.2.3")],
    )
    .unwrap();
    assert_eq!(c.trusted_proxies.len(), 2);
    assert_eq!(c.log_format, LogFormat::Text);
    let c = cfg("log_format = \"json\"", &[]).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    let e = cfg(
        "[http]\ntrusted_proxies = \"10.0.0.0/33\"\nforwarded_header = \"x-real-ip\"\n[metrics]\nbearer_token = \"short\"\nlisten = \"nowhere\"\n",
        &[],
    )
    .unwrap_err()
    .to_string();
    for key in [
        "http.trusted_proxies",
        "http.forwarded_header",
        "metrics.bearer_token",
        "metrics.listen",
    ] {
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn secret_is_redacted_in_debug() {
    let c = cfg(
        "server_secret = \"0123456789abcdef0123456789abcdef-very-secret\"",
        &[],
    )
    .unwrap();
    assert!(!format!("{c:?}").contains("very-secret"));
}

#[test]
fn a_misspelt_key_in_the_file_is_refused() {
    for (file, key) in [
        ("lisen = \"127.0.0.1:1\"", "lisen"),
        ("[http]\nread_timeout = 5\n", "http.read_timeout"),
        ("[htp]\nread_timeout_secs = 5\n", "htp.read_timeout_secs"),
        ("email.moed = \"smtp\"", "email.moed"),
    ] {
        let e = problem(file, &[], &[]);
        assert!(
            e.contains(&format!("unknown key `{key}` in "))
                && e.contains("tenantry.toml (see the configuration reference in the README)"),
            "{file}: {e}"
        );
    }
    // An empty table sets nothing (as before typed sections).
    assert!(cfg("[http]\n[nothing]\n", &[]).is_ok());
}

#[test]
fn a_misspelt_key_in_code_is_loud() {
    let mut raw = RawConfig::default();
    raw.set("lisen", "127.0.0.1:1".into(), "flag");
    let e = Config::from_raw(&raw).unwrap_err().to_string();
    assert!(e.contains("unknown key `lisen` (flag)"), "{e}");
}

#[test]
fn each_layer_overrides_the_one_before() {
    let file = "listen = \"127.0.0.1:9000\"\n[http]\nread_timeout_secs = 5\nworkers = 3\n";
    let env = [
        ("TENANTRY_LISTEN", "127.0.0.1:9001"),
        ("TENANTRY_HTTP_READ_TIMEOUT_SECS", "7"),
    ];
    let c = layered("", &[], &[]).unwrap();
    assert_eq!((c.listen.port(), c.read_timeout_secs), (8080, 15));
    let c = layered(file, &[], &[]).unwrap();
    assert_eq!(
        (c.listen.port(), c.read_timeout_secs, c.workers),
        (9000, 5, 3)
    );
    let c = layered(file, &env, &[]).unwrap();
    assert_eq!(
        (c.listen.port(), c.read_timeout_secs, c.workers),
        (9001, 7, 3)
    );
    let c = layered(file, &env, &[("listen", "127.0.0.1:9002")]).unwrap();
    assert_eq!(
        (c.listen.port(), c.read_timeout_secs, c.workers),
        (9002, 7, 3)
    );

    // A later layer replaces a bad value of an earlier one; a problem names the layer.
    let bad_file = "[http]\nread_timeout_secs = \"soon\"\n";
    let e = problem(bad_file, &[], &[]);
    assert!(
        e.contains("`http.read_timeout_secs` (config file) must be a whole number from 1 to 3600, got \"soon\""),
        "{e}"
    );
    assert!(layered(bad_file, &[("TENANTRY_HTTP_READ_TIMEOUT_SECS", "9")], &[]).is_ok());
    let e = problem("", &[("TENANTRY_LISTEN", "nowhere")], &[]);
    assert!(
        e.contains("`listen` (environment) must be an address"),
        "{e}"
    );
    let e = problem(
        "",
        &[("TENANTRY_LISTEN", "nowhere")],
        &[("listen", "elsewhere")],
    );
    assert!(
        e.contains("`listen` (flag) must be an address like 127.0.0.1:8080, got \"elsewhere\""),
        "{e}"
    );
    // The former name of `log.format` counts only when `log.format` is not set.
    let c = layered(
        "log_format = \"json\"\n[log]\nformat = \"text\"\n",
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(c.log_format, LogFormat::Text);
    let c = layered("log_format = \"json\"", &[], &[]).unwrap();
    assert_eq!(c.log_format, LogFormat::Json);
    let c = layered(
        "log_format = \"json\"",
        &[("TENANTRY_LOG_FORMAT", "text")],
        &[],
    )
    .unwrap();
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn a_wrong_type_is_a_clear_error() {
    for (file, message) in [
        (
            "[http]\nread_timeout_secs = true\n",
            "`http.read_timeout_secs` (config file) must be a whole number from 1 to 3600, got \"true\"",
        ),
        (
            "[http]\nmax_connections = 2.5\n",
            "`http.max_connections` (config file) must be a whole number from 16 to 65536, got \"2.5\"",
        ),
        (
            "allow_org_creation = 3",
            "`allow_org_creation` (config file) must be true or false, got \"3\"",
        ),
        (
            "listen = 8080",
            "`listen` (config file) must be an address like 127.0.0.1:8080, got \"8080\"",
        ),
        (
            "listen = { port = 8080 }",
            "`listen` (config file) must be one value, not a table",
        ),
        (
            "http = 5",
            "`http` (config file) must be a table of keys, like [http]",
        ),
        (
            "[email]\nmode = [\"smtp\"]\n",
            "`email.mode` must be smtp, outbox or plugin, got \"[\\\"smtp\\\"]\"",
        ),
    ] {
        let e = problem(file, &[], &[]);
        assert!(e.contains(message), "{file}:\n{e}\nlacks\n{message}");
    }
    // A value may still be written as text, as in the environment.
    let c = cfg(
        "[http]\nread_timeout_secs = \"5\"\n[features]\nsso = \"yes\"\n",
        &[],
    )
    .unwrap();
    assert_eq!((c.read_timeout_secs, c.default_features[2]), (5, true));
}

/// `KEYS` (defaults, help, environment variables) and the typed sections list the same keys:
/// the defaults alone fit the sections, which refuse unknown keys, and without any one key
/// they do not, since no section field has a default of its own.
#[test]
fn keys_match_the_typed_sections() {
    assert!(RawConfig::default().sections().is_ok());
    for (skip, ..) in KEYS {
        let mut raw = RawConfig::default();
        raw.tree = toml::Table::new();
        for (key, default, _) in KEYS.iter().filter(|k| k.0 != *skip) {
            raw.set(key, default.to_string(), "default");
        }
        match raw.sections() {
            Ok(_) => panic!("`{skip}` is in KEYS but not a field of the typed sections"),
            Err(e) => assert!(e.to_string().contains("missing field"), "{skip}: {e}"),
        }
    }
    let mut raw = RawConfig::default();
    raw.set("http.extra", "1".into(), "default");
    assert!(
        raw.sections().is_err(),
        "a key not in the sections was accepted"
    );
    let names: std::collections::BTreeSet<_> = KEYS.iter().map(|k| k.0).collect();
    assert_eq!(names.len(), KEYS.len(), "a key is listed twice in KEYS");
}

#[test]
fn unknown_tenantry_env_vars_are_found_with_the_closest_setting() {
    let names = [
        "TENANTRY_HTTP_WORKER",
        "TENANTRY_LISTEN",
        "TENANTRY_CONFIG",
        "TENANTRY_NOTHING_LIKE_ANY_SETTING",
        "PATH",
        "TENANTRY_EMAIL_SMTP_ULR",
    ]
    .map(String::from);
    assert_eq!(
        unknown_env_vars(names),
        vec![
            (
                "TENANTRY_EMAIL_SMTP_ULR".to_string(),
                Some("TENANTRY_EMAIL_SMTP_URL".to_string())
            ),
            (
                "TENANTRY_HTTP_WORKER".to_string(),
                Some("TENANTRY_HTTP_WORKERS".to_string())
            ),
            ("TENANTRY_NOTHING_LIKE_ANY_SETTING".to_string(), None),
        ]
    );
    // Every setting's own variable is known.
    assert!(unknown_env_vars(KEYS.iter().map(|(k, ..)| env_var_name(k))).is_empty());
}
