//! Starting one plugin process: no shell, an absolute program path (so std takes its
//! posix_spawn path, see `mod.rs`), a scrubbed environment, stdin from /dev/null,
//! stdout and stderr into one pipe (their interleaving kept), and a new process group
//! led by the plugin so a timeout can kill everything it started.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::fs::{Access, access};
use rustix::pipe::{PipeFlags, pipe_with};
use rustix::process::Pid;
use thiserror::Error;

use crate::exec::ExecConfig;

/// The environment every plugin gets, computed once per executor.
#[derive(Debug, Clone)]
pub(crate) struct Environment {
    vars: Vec<(OsString, OsString)>,
    path: OsString,
}

impl Environment {
    /// The allow-listed variables of our own environment, then the configured ones.
    pub(crate) fn new(config: &ExecConfig) -> Self {
        let mut vars: Vec<(OsString, OsString)> = Vec::new();
        let mut set = |name: OsString, value: OsString| {
            vars.retain(|(n, _)| *n != name);
            vars.push((name, value));
        };
        for name in &config.env_allow {
            if let Some(value) = std::env::var_os(name) {
                set(name.into(), value);
            }
        }
        for (name, value) in &config.env_set {
            set(name.into(), value.into());
        }
        let path = match vars.iter().find(|(n, _)| n == "PATH") {
            Some((_, p)) => p.clone(),
            None => {
                let p = OsString::from(&config.default_path);
                vars.push(("PATH".into(), p.clone()));
                p
            }
        };
        Environment { vars, path }
    }
}

/// A started plugin: the group leader's pid (also the group id) and the read end of
/// its output pipe.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) pid: Pid,
    pub(crate) output: File,
}

/// Why a plugin could not be started; its text becomes the ERROR result's summary.
#[derive(Debug, Error)]
pub(crate) enum SpawnError {
    #[error("empty command line")]
    Empty,
    #[error("{program}: not found in PATH")]
    NotFound { program: String },
    #[error("cannot execute {program}: {source}")]
    Io { program: String, source: std::io::Error },
}

/// Starts `argv` in a new process group. The plugin sees `argv[0]` as written.
pub(crate) fn spawn(argv: &[String], env: &Environment) -> Result<Spawned, SpawnError> {
    let (name, args) = argv.split_first().ok_or(SpawnError::Empty)?;
    let program = resolve(name, &env.path).ok_or_else(|| SpawnError::NotFound { program: name.clone() })?;
    let io_error = |source| SpawnError::Io { program: name.clone(), source };
    // Both ends close-on-exec: a plugin spawned concurrently on another thread must
    // not inherit this one's pipe, or this one's EOF would wait for that plugin.
    let (read, write) = pipe_with(PipeFlags::CLOEXEC).map_err(|e| io_error(e.into()))?;
    let write_too = write.try_clone().map_err(io_error)?;
    let mut command = Command::new(&program);
    command
        .arg0(name)
        .args(args)
        .env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::from(write_too))
        .process_group(0);
    let child = command.spawn().map_err(io_error)?;
    // The command holds our copies of the write end: drop them now, or EOF never comes.
    drop(command);
    // `Child` is only a pid here (no pipes, no pidfd); dropping it neither waits nor
    // kills, and `reap` reaps the process.
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    drop(child);
    // A pid from a successful spawn is positive and fits an i32 (pid_max ≤ 2^22).
    let pid = pid.ok_or_else(|| io_error(std::io::Error::other("spawn returned an invalid pid")))?;
    Ok(Spawned { pid, output: File::from(read) })
}

/// `name` itself when it holds a `/`, else the first executable `dir/name` along `path`
/// (empty entries mean the current directory, as in execvp).
fn resolve(name: &str, path: &OsStr) -> Option<PathBuf> {
    if name.is_empty() {
        return None;
    }
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) })
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file() && access(candidate, Access::EXEC_OK).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_along_path() {
        let path = OsStr::new("/nonexistent::/bin:/usr/bin");
        assert_eq!(resolve("sh", path).as_deref(), Some(Path::new("/bin/sh")));
        assert_eq!(resolve("./x", path).as_deref(), Some(Path::new("./x")));
        assert_eq!(resolve("no-such-program-here", path), None);
        assert_eq!(resolve("", path), None);
        // A directory named like the program is not a program.
        assert_eq!(resolve("tmp", OsStr::new("/")), None);
    }

    #[test]
    fn environment_is_scrubbed() {
        let config = ExecConfig {
            env_allow: vec!["BERGAMOT_TEST_NEVER_SET".into()],
            env_set: vec![("NAGIOS_X".into(), "1".into()), ("NAGIOS_X".into(), "2".into())],
            default_path: "/bin".into(),
            ..ExecConfig::default()
        };
        let env = Environment::new(&config);
        assert_eq!(env.vars, vec![("NAGIOS_X".into(), "2".into()), ("PATH".into(), "/bin".into())]);
        assert_eq!(env.path, "/bin");
    }
}
