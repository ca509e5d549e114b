//! Build information for `tenantry --version`: the git commit, the commit's date (not the
//! time of the build, so two builds of one commit print the same) and the cargo profile.
//! Without git (a source tarball) the commit is "unknown"; `SOURCE_DATE_EPOCH` (the
//! reproducible-builds convention) overrides the date, `TENANTRY_GIT_COMMIT` the commit.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-env-changed=TENANTRY_GIT_COMMIT");
    // Re-run when HEAD moves (a commit, a checkout), not on every source change.
    // (Only files that exist: a missing one would make cargo re-run this on every build.)
    let watch = |p: PathBuf| {
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    };
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        watch(PathBuf::from(dir).join("HEAD"));
        if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
            let common = PathBuf::from(common);
            watch(common.join("packed-refs"));
            if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
                watch(common.join(head_ref));
            }
        }
    }
    let commit = std::env::var("TENANTRY_GIT_COMMIT")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let date = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        Some(secs) => civil_date(secs),
        None => git(&["log", "-1", "--format=%cs", "HEAD"]).unwrap_or_else(|| "unknown".into()),
    };
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=TENANTRY_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=TENANTRY_BUILD_DATE={date}");
    println!("cargo:rustc-env=TENANTRY_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=TENANTRY_BUILD_TARGET={target}");
}

/// `YYYY-MM-DD` of a Unix time (UTC), without a date crate in the build script.
fn civil_date(secs: i64) -> String {
    // Howard Hinnant's days-from-civil inverse.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
