//! `bergamot-cli`: the operator's command line (validate, show, time periods, new site).
//!
//! Thin over `bergamot-config`: every command loads the model the daemon would load
//! and prints what an operator (or a test, or a script with `--json`) needs.

mod check;
mod client;
mod new_site;
mod show;
mod timeperiod;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use bergamot_config::model::{Model, Site};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bergamot-cli", version, about = "Bergamot operator command line")]
pub struct Cli {
    /// The running daemon's API (commands status, problems, ack, downtime, …).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    daemon: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Configuration: validate, show, new site.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Runs one check now, as the daemon would, and shows its parameters, command and
    /// result. Exit status as a plugin's: 0 OK, 1 WARNING, 2 CRITICAL, 3 otherwise.
    Check {
        /// Configuration directory.
        dir: PathBuf,
        /// Host name.
        host: String,
        /// A service or trap of the host (default: the host's own check).
        service: Option<String>,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The running daemon: sites and their counts, or the checks of a host.
    Status {
        /// A host or cluster: its checks.
        host: Option<String>,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The running daemon's problems, worst first.
    Problems {
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledges a check's problem (PATH: site/host/NAME[/service/NAME]).
    Ack {
        path: String,
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
    },
    /// Schedules a downtime: until an instant (`--until`), or for the length of a
    /// time period (`--period`).
    Downtime {
        path: String,
        /// RFC 3339 start (default: now).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 end.
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        period: Option<String>,
        #[arg(long, short = 'm', default_value = "")]
        comment: String,
    },
    /// Ends a downtime early.
    CancelDowntime {
        id: u64,
    },
    /// Suppresses a check (no alerts) until unsuppressed.
    Suppress {
        path: String,
    },
    Unsuppress {
        path: String,
    },
    /// Adds a comment to a check.
    Comment {
        path: String,
        text: String,
    },
    /// Runs a check now.
    Recheck {
        path: String,
    },
    /// Asks the daemon to reload its configuration (refused, with the reasons and exit
    /// status 1, if it has errors); `--last` shows the last reload (or the start-up's
    /// load) instead.
    Reload {
        #[arg(long)]
        last: bool,
        #[arg(long)]
        json: bool,
    },
    /// Whether a time period is active at an instant, and when that next changes.
    Timeperiod {
        /// Configuration directory.
        dir: PathBuf,
        /// Time period name.
        name: String,
        #[arg(long)]
        site: Option<String>,
        /// RFC 3339 instant (default: now).
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Loads, resolves and validates every site; exit status 1 on any error.
    Validate {
        dir: PathBuf,
        /// Print diagnostics and summary as JSON.
        #[arg(long)]
        json: bool,
        /// Do not print warnings.
        #[arg(long)]
        no_warnings: bool,
    },
    /// Shows a resolved object and where each value came from.
    Show {
        dir: PathBuf,
        /// Object type: host, service, trap, cluster, resource, command, contact, team,
        /// time-period, location, group, security-domain, credential.
        r#type: String,
        /// Object name; a nested check as HOST/NAME or CLUSTER/NAME.
        name: String,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Writes a starter site that validates clean.
    NewSite {
        /// Site name, usually the site's domain name.
        name: String,
        /// Directory to create (must not exist or be empty).
        dir: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let daemon = || client::Daemon::parse(&cli.daemon);
    let by = client::who;
    let act = |body: serde_json::Value| -> Result<ExitCode, String> {
        client::run(&daemon()?, "POST", "/api/actions", Some(body), false)
    };
    let result = match cli.command {
        Command::Config { command } => match command {
            ConfigCommand::Validate { dir, json, no_warnings } => validate::run(&dir, json, !no_warnings),
            ConfigCommand::Show { dir, r#type, name, site, json } => {
                show::run(&dir, &r#type, &name, site.as_deref(), json)
            }
            ConfigCommand::NewSite { name, dir } => new_site::run(&name, &dir),
        },
        Command::Check { dir, host, service, site, json } => {
            check::run(&dir, &host, service.as_deref(), site.as_deref(), json)
        }
        Command::Status { host, site, json } => {
            let mut q = Vec::new();
            if let Some(h) = &host {
                q.push(format!("container={h}"));
            }
            if let Some(s) = &site {
                q.push(format!("site={s}"));
            }
            let path = if host.is_some() { format!("/api/checks?{}", q.join("&")) } else { "/api/sites".to_string() };
            daemon().and_then(|d| client::run(&d, "GET", &path, None, json))
        }
        Command::Problems { site, json } => {
            let path = match site {
                Some(s) => format!("/api/problems?site={s}"),
                None => "/api/problems".to_string(),
            };
            daemon().and_then(|d| client::run(&d, "GET", &path, None, json))
        }
        Command::Ack { path, comment } => {
            act(client::action("acknowledge", serde_json::json!({"path": path, "comment": comment, "by": by()})))
        }
        Command::Downtime { path, from, until, period, comment } => act(client::action(
            "downtime",
            serde_json::json!({"path": path, "from": from, "to": until, "period": period, "comment": comment, "by": by()}),
        )),
        Command::CancelDowntime { id } => {
            act(client::action("cancel-downtime", serde_json::json!({"id": id, "by": by()})))
        }
        Command::Suppress { path } => {
            act(client::action("suppress", serde_json::json!({"path": path, "suppressed": true, "by": by()})))
        }
        Command::Unsuppress { path } => {
            act(client::action("suppress", serde_json::json!({"path": path, "suppressed": false, "by": by()})))
        }
        Command::Comment { path, text } => {
            act(client::action("comment", serde_json::json!({"path": path, "text": text, "by": by()})))
        }
        Command::Recheck { path } => act(client::action("recheck", serde_json::json!({"path": path}))),
        Command::Reload { last, json } => {
            let method = if last { "GET" } else { "POST" };
            daemon().and_then(|d| client::run(&d, method, "/api/reload", None, json))
        }
        Command::Timeperiod { dir, name, site, at, json } => {
            timeperiod::run(&dir, &name, site.as_deref(), at.as_deref(), json)
        }
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// The site a command is about: the named one, or the only one.
fn pick_site<'m>(model: &'m Model, name: Option<&str>) -> Result<&'m Site, String> {
    let names = || model.sites.iter().map(|s| s.name.to_string()).collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => model.site(n).ok_or_else(|| format!("no site `{n}` (sites: {})", names())),
        None => match model.sites.as_slice() {
            [one] => Ok(one),
            [] => Err("the configuration has no site".into()),
            _ => Err(format!("several sites, choose one with --site ({})", names())),
        },
    }
}

/// Loads a model for show/timeperiod: errors are printed but do not stop them, so
/// an operator can inspect a broken configuration.
fn load_for_inspection(dir: &std::path::Path) -> Model {
    let outcome = bergamot_config::load_model(dir);
    let errors = outcome.diags.errors().count();
    if errors > 0 {
        eprintln!(
            "warning: the configuration has {errors} error(s); run `bergamot-cli config validate {}`",
            dir.display()
        );
    }
    outcome.model
}
