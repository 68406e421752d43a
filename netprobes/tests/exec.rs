//! Plugin execution against real processes: monitoring-plugins' check_dummy (installed
//! with apt-get when missing), shell scripts that exit oddly, die by signal, hang, leave
//! children holding stdout, flood their output, and crowds of plugins under the cap.
//! Timeouts here are configuration, never assertions on elapsed time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use bergamot_netprobes::exec::{ChildExit, ExecConfig, Executor, PluginCommand, PluginResult};
use bergamot_netprobes::wire::plugin::PluginStatus;
use futures_lite::future;
use rustix::io::Errno;
use rustix::process::{Pid, test_kill_process, test_kill_process_group};

const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// Timeout of the plugins that hang: long enough that the script has written its
/// pids (and, where the test needs it, exited) first, even on a loaded 2-core box.
const HANG_TIMEOUT: Duration = Duration::from_secs(3);

/// Installs monitoring-plugins-basic once per test binary if check_dummy is missing.
fn plugins() -> &'static Path {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if Path::new(PLUGINS).join("check_dummy").exists() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "monitoring-plugins-basic"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let updated = Command::new("apt-get").arg("update").status().is_ok_and(|s| s.success());
            assert!(updated && install(), "cannot install monitoring-plugins-basic");
        }
    });
    Path::new(PLUGINS)
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bergamot-exec-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    /// An executable `/bin/sh` script; `$DIR` in `body` is this directory.
    fn script(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        let text = format!("#!/bin/sh\nDIR='{}'\n{body}\n", self.0.display());
        std::fs::write(&path, text).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    /// A pid a script wrote to `$DIR/name`.
    fn pid(&self, name: &str) -> Pid {
        let text = std::fs::read_to_string(self.0.join(name)).expect(name);
        text.trim().parse().ok().and_then(Pid::from_raw).expect("a pid")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn executor(config: ExecConfig) -> Executor {
    Executor::new(ExecConfig { kill_grace: Duration::from_secs(2), ..config })
}

fn run(executor: &Executor, command: PluginCommand) -> PluginResult {
    smol::block_on(executor.run(&command))
}

fn run_line(executor: &Executor, line: &str) -> PluginResult {
    smol::block_on(executor.run_line(line)).expect("command line splits")
}

/// The process (or group) no longer exists at all: not running, not even a zombie.
fn assert_gone(pid: Pid, what: &str) {
    assert_eq!(test_kill_process(pid), Err(Errno::SRCH), "{what} {pid:?} is still there");
}

#[test]
fn check_dummy_exit_codes() {
    let dir = plugins();
    for poll_exits in [false, true] {
        let ex = executor(ExecConfig { poll_exits, ..ExecConfig::default() });
        for (code, status, summary) in [
            (0, PluginStatus::Ok, "OK: all good"),
            (1, PluginStatus::Warning, "WARNING: all good"),
            (2, PluginStatus::Critical, "CRITICAL: all good"),
            (3, PluginStatus::Unknown, "UNKNOWN: all good"),
        ] {
            let check_dummy = dir.join("check_dummy").display().to_string();
            let r = run(&ex, PluginCommand::new([check_dummy, code.to_string(), "all good".into()]));
            assert_eq!(r.status, status, "exit {code} (polling: {poll_exits})");
            assert_eq!(r.exit, Some(ChildExit::Code(code)));
            assert_eq!(r.output.summary, summary);
            assert!(!r.truncated);
        }
        // check_dummy's own usage error: exit 3 with its message.
        let r = run_line(&ex, &format!("{}/check_dummy 9", dir.display()));
        assert_eq!(
            (r.status, r.output.summary.as_str()),
            (PluginStatus::Unknown, "UNKNOWN: Status 9 is not a supported error state")
        );
    }
}

/// The daemon shares one executor between threads and spawns runs on any of them.
#[test]
fn runs_are_send_and_the_executor_is_shared() {
    fn send<T: Send>(_: &T) {}
    fn sync<T: Sync + Send>() {}
    sync::<Executor>();
    let ex = executor(ExecConfig::default());
    let command = PluginCommand::new(["true"]);
    let run = ex.run(&command);
    send(&run);
    let r = smol::block_on(run);
    assert_eq!((r.status, r.exit, r.output.summary.as_str()), (PluginStatus::Ok, Some(ChildExit::Code(0)), ""));
}

#[test]
fn command_line_quotes_and_path_search() {
    plugins();
    let ex = executor(ExecConfig::default());
    let r = run_line(&ex, "sh -c 'echo \"WARNING - quoted | t=1s;2;3\"; echo second line; exit 1'");
    assert_eq!(r.status, PluginStatus::Warning);
    assert_eq!(r.output.summary, "WARNING - quoted");
    assert_eq!(r.output.long_output, "second line");
    assert_eq!(r.output.perfdata.first().map(|p| p.label.as_str()), Some("t"));
    // stdout and stderr are one stream, in order.
    let r = run_line(&ex, "sh -c 'echo one; echo two >&2; echo three'");
    assert_eq!((r.output.summary.as_str(), r.output.long_output.as_str()), ("one", "two\nthree"));
    assert!(smol::block_on(ex.run_line("sh -c 'unterminated")).is_err());
}

#[test]
fn odd_exits_are_errors() {
    let scratch = Scratch::new("odd");
    let ex = executor(ExecConfig::default());
    let r = run(&ex, PluginCommand::new([scratch.script("seven", "echo 'DISK ??? - confused'; exit 7")]));
    assert_eq!((r.status, r.exit), (PluginStatus::Error, Some(ChildExit::Code(7))));
    assert_eq!(r.output.summary, "DISK ??? - confused");
    let r = run(&ex, PluginCommand::new([scratch.script("silent", "exit 42")]));
    assert_eq!((r.status, r.output.summary.as_str()), (PluginStatus::Error, "plugin exited with code 42"));
    let r = run(&ex, PluginCommand::new([scratch.script("segv", "kill -SEGV $$")]));
    assert_eq!((r.status, r.exit), (PluginStatus::Error, Some(ChildExit::Signal(11))));
    assert_eq!(r.output.summary, "plugin killed by signal 11 (SIGSEGV)");
    let r = run(&ex, PluginCommand::new([scratch.script("nine", "echo before; kill -KILL $$")]));
    assert_eq!((r.status, r.exit), (PluginStatus::Error, Some(ChildExit::Signal(9))));
    assert_eq!(r.output.summary, "before");
}

#[test]
fn unstartable_plugins_are_errors() {
    let scratch = Scratch::new("unstartable");
    let ex = executor(ExecConfig::default());
    let r = run(&ex, PluginCommand::new(["no-such-plugin-anywhere", "-H", "x"]));
    assert_eq!((r.status, r.exit), (PluginStatus::Error, None));
    assert_eq!(r.output.summary, "no-such-plugin-anywhere: not found in PATH");
    let r = run(&ex, PluginCommand::new(["/nonexistent/check_x"]));
    assert_eq!(r.status, PluginStatus::Error);
    assert!(r.output.summary.starts_with("cannot execute /nonexistent/check_x: "), "{}", r.output.summary);
    let text = scratch.0.join("not-executable");
    std::fs::write(&text, "#!/bin/sh\nexit 0\n").expect("write");
    let r = run(&ex, PluginCommand::new([text.display().to_string()]));
    assert_eq!((r.status, r.exit), (PluginStatus::Error, None), "{}", r.output.summary);
    let r = run(&ex, PluginCommand::new(Vec::<String>::new()));
    assert_eq!((r.status, r.output.summary.as_str()), (PluginStatus::Error, "empty command line"));
}

#[test]
fn environment_is_scrubbed() {
    plugins();
    let ex = executor(ExecConfig { env_set: vec![("NAGIOS_HOSTNAME".into(), "web1".into())], ..ExecConfig::default() });
    // Cargo runs tests with CARGO_* variables set, among others: none may reach the plugin.
    let r = run_line(&ex, "env");
    let vars: Vec<&str> = std::iter::once(r.output.summary.as_str()).chain(r.output.long_output.lines()).collect();
    assert!(vars.contains(&"NAGIOS_HOSTNAME=web1"), "{vars:?}");
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{vars:?}");
    let allowed = ExecConfig::default().env_allow;
    for var in &vars {
        let name = var.split('=').next().unwrap_or_default();
        assert!(name == "NAGIOS_HOSTNAME" || allowed.iter().any(|a| a == name), "{var} leaked");
    }
}

#[test]
fn timeout_kills_the_whole_group() {
    let scratch = Scratch::new("timeout");
    for poll_exits in [false, true] {
        let ex = executor(ExecConfig { poll_exits, ..ExecConfig::default() });
        let plugin = scratch.script(
            "sleepy",
            "echo $$ > \"$DIR/leader\"\nsleep 1000 &\necho $! > \"$DIR/child\"\necho 'PING OK - so far'\nwait",
        );
        let r = run(&ex, PluginCommand::new([plugin]).with_timeout(HANG_TIMEOUT));
        assert_eq!(r.status, PluginStatus::Timeout, "polling: {poll_exits}");
        assert_eq!(r.output.summary, "plugin timed out after 3s");
        assert_eq!(r.output.long_output, "PING OK - so far");
        let leader = scratch.pid("leader");
        assert_gone(leader, "leader");
        assert_gone(scratch.pid("child"), "child");
        assert_eq!(test_kill_process_group(leader), Err(Errno::SRCH));
    }
}

#[test]
fn sigterm_ignored_means_sigkill() {
    let scratch = Scratch::new("stubborn");
    let ex = executor(ExecConfig { kill_grace: Duration::from_millis(300), ..ExecConfig::default() });
    // `trap '' TERM` is inherited by the sleep too: only SIGKILL ends them.
    let plugin = scratch.script(
        "stubborn",
        "trap '' TERM\necho $$ > \"$DIR/leader\"\nsleep 1000 &\necho $! > \"$DIR/child\"\nwait\nwait",
    );
    let r = run(&ex, PluginCommand::new([plugin]).with_timeout(HANG_TIMEOUT));
    assert_eq!((r.status, r.exit), (PluginStatus::Timeout, Some(ChildExit::Signal(9))));
    assert_gone(scratch.pid("leader"), "leader");
    assert_gone(scratch.pid("child"), "child");
}

#[test]
fn child_holding_stdout_times_out_and_dies() {
    let scratch = Scratch::new("holder");
    let ex = executor(ExecConfig::default());
    // The plugin itself exits 0 at once; its background child keeps stdout open.
    let plugin = scratch.script(
        "holder",
        "(sleep 1000; echo never) &\necho $! > \"$DIR/child\"\necho $$ > \"$DIR/leader\"\necho 'OK - done'\nexit 0",
    );
    let r = run(&ex, PluginCommand::new([plugin]).with_timeout(HANG_TIMEOUT));
    assert_eq!((r.status, r.exit), (PluginStatus::Timeout, Some(ChildExit::Code(0))));
    assert_eq!(r.output.long_output, "OK - done");
    assert_gone(scratch.pid("child"), "child holding stdout");
    assert_gone(scratch.pid("leader"), "leader");
    assert_eq!(test_kill_process_group(scratch.pid("leader")), Err(Errno::SRCH));
}

#[test]
fn stragglers_are_killed_after_a_normal_exit() {
    let scratch = Scratch::new("straggler");
    let ex = executor(ExecConfig::default());
    // A child that closed stdout does not hold the run, but must not outlive it.
    let plugin =
        scratch.script("straggler", "sleep 1000 >/dev/null 2>&1 &\necho $! > \"$DIR/child\"\necho 'OK - quick'");
    let r = run(&ex, PluginCommand::new([plugin]));
    assert_eq!((r.status, r.output.summary.as_str()), (PluginStatus::Ok, "OK - quick"));
    assert_gone(scratch.pid("child"), "straggler");
}

/// A check the caller stops waiting for (its future dropped) must not leave its
/// plugin running: the executor kills the group at once and reaps it in the
/// background, so this waits (up to a generous bound) for the reaping only.
#[test]
fn dropped_runs_kill_their_plugin() {
    let scratch = Scratch::new("dropped");
    let ex = executor(ExecConfig::default());
    let plugin = scratch.script("forever", "echo $$ > \"$DIR/tmp\"\nmv \"$DIR/tmp\" \"$DIR/leader\"\nexec sleep 1000");
    let pid_file = scratch.0.join("leader");
    let command = PluginCommand::new([plugin]);
    let finished = smol::block_on(future::or(async { Some(ex.run(&command).await) }, async {
        while !pid_file.exists() {
            smol::Timer::after(Duration::from_millis(10)).await;
        }
        None
    }));
    assert_eq!(finished, None, "the plugin cannot finish on its own");
    let leader = scratch.pid("leader");
    for _ in 0..3000 {
        if test_kill_process(leader) == Err(Errno::SRCH) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the plugin of a dropped run is still there");
}

#[test]
fn huge_output_is_capped_and_drained() {
    let scratch = Scratch::new("huge");
    let ex = executor(ExecConfig { max_output: 64 * 1024, ..ExecConfig::default() });
    // 5 MB: far more than a pipe holds, so the plugin only finishes if we keep reading.
    let plugin =
        scratch.script("huge", "echo 'OK - flood | n=1'\nhead -c 5000000 /dev/zero | tr '\\000' x\necho\nexit 0");
    let r = run(&ex, PluginCommand::new([plugin]));
    assert_eq!(r.status, PluginStatus::Ok);
    assert_eq!(r.output.summary, "OK - flood");
    assert_eq!(r.output_bytes, 5_000_000 + "OK - flood | n=1\n".len() as u64 + 1);
    assert!(r.truncated);
    assert_eq!(r.output.long_output.len(), 64 * 1024 - "OK - flood | n=1\n".len());
}

#[test]
fn crowds_wait_for_a_slot() {
    let scratch = Scratch::new("crowd");
    const CAP: usize = 4;
    let ex = executor(ExecConfig { max_concurrent: CAP, ..ExecConfig::default() });
    std::fs::create_dir(scratch.0.join("running")).expect("mkdir");
    // Each run registers itself, counts who is running, lingers, and leaves.
    let plugin = scratch.script(
        "crowd",
        "touch \"$DIR/running/$$\"\nn=$(ls \"$DIR/running\" | wc -l)\nsleep 0.1\nrm \"$DIR/running/$$\"\necho \"OK - $n running\"",
    );
    let command = PluginCommand::new([plugin]);
    let local = smol::LocalExecutor::new();
    let tasks: Vec<_> = (0..40).map(|_| local.spawn(ex.run(&command))).collect();
    let results = smol::block_on(local.run(async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await);
        }
        results
    }));
    let mut most = 0;
    for r in &results {
        assert_eq!(r.status, PluginStatus::Ok, "{}", r.output.summary);
        let n: usize = r.output.summary.split(' ').nth(2).and_then(|n| n.parse().ok()).expect("a count");
        most = most.max(n);
    }
    assert!((1..=CAP).contains(&most), "{most} plugins ran at once, cap {CAP}");
}

/// Spawns take the posix_spawn (vfork-style clone) path, never a fork: re-runs the
/// check_dummy test under strace and reads how children were created.
#[test]
fn spawns_are_posix_spawn() {
    plugins();
    if Command::new("strace").arg("-V").output().is_err() {
        let ok = Command::new("apt-get").args(["install", "-y", "strace"]).status().is_ok_and(|s| s.success());
        assert!(ok, "cannot install strace");
    }
    let scratch = Scratch::new("strace");
    let log = scratch.0.join("trace");
    let me = std::env::current_exe().expect("test binary");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o"])
        .arg(&log)
        .arg(me)
        .args(["check_dummy_exit_codes", "--exact", "--test-threads=1"])
        .output()
        .expect("strace runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let trace = std::fs::read_to_string(&log).expect("trace");
    let creations: Vec<&str> = trace.lines().filter(|l| l.contains("clone") || l.contains("fork(")).collect();
    let vforks = creations.iter().filter(|l| l.contains("CLONE_VM") && l.contains("CLONE_VFORK")).count();
    // Threads share memory (CLONE_VM); a fork would not.
    let forks: Vec<_> = creations.iter().filter(|l| !l.contains("CLONE_VM") && !l.contains("resumed>")).collect();
    assert!(vforks >= 10, "expected a vfork-style clone per plugin, trace:\n{trace}");
    assert!(forks.is_empty(), "fork-style process creation: {forks:?}");
}
