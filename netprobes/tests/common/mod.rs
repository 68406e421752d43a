//! Helpers shared by the integration tests that run against real peers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Once;

/// Installs the Debian packages providing `files` if any is missing (apt-get update
/// once if the first install fails).
pub fn ensure(packages: &[&str], files: &[&str]) {
    static UPDATE: Once = Once::new();
    if files.iter().all(|f| Path::new(f).exists()) {
        return;
    }
    let install = || {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        UPDATE.call_once(|| {
            let _ = Command::new("apt-get").args(["-o", "DPkg::Lock::Timeout=600", "update", "-q"]).status();
        });
        assert!(install(), "apt-get install -y {packages:?} failed");
    }
    for f in files {
        assert!(Path::new(f).exists(), "{f} missing after installing {packages:?}");
    }
}
