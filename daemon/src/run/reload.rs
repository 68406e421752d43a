//! Loading a configuration for a reload (and at start-up): off the engine's loop,
//! on a blocking thread. A configuration with errors gives no plan, only its rendered
//! diagnostics; the running one stays. The version is a hash of the files' contents.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::engine::schedule::StableHasher;
use crate::plan::Plan;

/// A loaded configuration.
#[derive(Debug)]
pub struct Loaded {
    /// `None` when the configuration has errors.
    pub plan: Option<Arc<Plan>>,
    /// Errors and warnings, rendered as `bergamot-cli config validate` shows them.
    pub diagnostics: String,
    pub errors: usize,
    /// FNV-1a of every file's path and contents, in load order, as 16 hex digits.
    pub version: String,
    pub took_ms: f64,
}

/// Loads, validates and plans the configuration in `dirs`.
pub fn load(dirs: &[PathBuf], _started: Timestamp) -> Loaded {
    let t = std::time::Instant::now();
    let paths: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let outcome = bergamot_config::build(bergamot_config::load::load_paths(&paths), TimeZone::system());
    let errors = outcome.diags.errors().count();
    let diagnostics = outcome.diags.render(&outcome.model.sources);
    let version = version(&outcome.model);
    let plan = (errors == 0).then(|| Arc::new(Plan::new(Arc::new(outcome.model))));
    Loaded { plan, diagnostics, errors, version, took_ms: t.elapsed().as_secs_f64() * 1000.0 }
}

fn version(model: &bergamot_config::model::Model) -> String {
    let mut h = StableHasher::new();
    for path in model.sources.paths() {
        h.write(path.to_string_lossy().as_bytes());
        if let Ok(bytes) = std::fs::read(path) {
            h.write(&bytes);
        }
    }
    format!("{:016x}", h.finish())
}
