//! check_ping's thresholds (`-w 100.0,20% -c 500.0,60%`), evaluation, output and
//! perfdata over a target's [`TargetStats`].

/// Plugin states, with their exit codes.
use std::fmt::Write as _;

use super::TargetStats;

pub use crate::wire::plugin::ExitStatus as Status;

/// One of check_ping's `<rta>,<pl>%` pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Round-trip average in milliseconds; 0 disables (and is left out of perfdata).
    pub rta_ms: f64,
    /// Packet loss in percent; 0 disables in perfdata (but any loss ≥ 0 still trips).
    pub loss_pct: u32,
}

/// Why `-w`/`-c` were refused (check_ping's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("{which} threshold must be <rta>,<pl>% (got {got:?})")]
    Syntax { which: &'static str, got: String },
    #[error("<wrta> ({warn}) cannot be larger than <crta> ({crit})")]
    Rta { warn: String, crit: String },
    #[error("<wpl> ({warn}) cannot be larger than <cpl> ({crit})")]
    Loss { warn: u32, crit: u32 },
}

impl Threshold {
    /// Parses `100.0,20%`. Like check_ping (sscanf `%f,%d%%`), a fractional loss is
    /// truncated.
    pub fn parse(which: &'static str, s: &str) -> Result<Threshold, ThresholdError> {
        let bad = || ThresholdError::Syntax { which, got: s.to_owned() };
        let (rta, pl) = s.split_once(',').ok_or_else(bad)?;
        let pl = pl.strip_suffix('%').ok_or_else(bad)?;
        let rta_ms: f64 = rta.trim().parse().map_err(|_| bad())?;
        let pl_f: f64 = pl.trim().parse().map_err(|_| bad())?;
        if !rta_ms.is_finite() || rta_ms < 0.0 || !(0.0..=100.0).contains(&pl_f) {
            return Err(bad());
        }
        // 0 <= pl_f <= 100, so the truncation fits.
        Ok(Threshold { rta_ms, loss_pct: pl_f.trunc() as u32 })
    }
}

/// check_ping's `-w` and `-c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckPing {
    pub warning: Threshold,
    pub critical: Threshold,
}

/// A plugin result: exit status and the line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub status: Status,
    pub output: String,
}

impl CheckPing {
    pub fn parse(warning: &str, critical: &str) -> Result<CheckPing, ThresholdError> {
        let warning = Threshold::parse("Warning", warning)?;
        let critical = Threshold::parse("Critical", critical)?;
        if warning.rta_ms > critical.rta_ms {
            return Err(ThresholdError::Rta {
                warn: format!("{:.6}", warning.rta_ms),
                crit: format!("{:.6}", critical.rta_ms),
            });
        }
        if warning.loss_pct > critical.loss_pct {
            return Err(ThresholdError::Loss { warn: warning.loss_pct, crit: critical.loss_pct });
        }
        Ok(CheckPing { warning, critical })
    }

    /// check_ping's verdict (thresholds trip at `>=`, 100% loss is CRITICAL) and its
    /// output line, perfdata included, e.g.
    /// `PING OK - Packet loss = 0%, RTA = 0.05 ms|rta=0.050000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0;`.
    pub fn evaluate(&self, stats: &TargetStats) -> CheckResult {
        let pl = stats.loss_percent();
        let (w, c) = (self.warning, self.critical);
        let rta_ms = stats.avg().map(|d| d.as_secs_f64() * 1000.0);
        let status = match rta_ms {
            None => Status::Critical,
            Some(rta) if pl >= c.loss_pct || rta >= c.rta_ms => Status::Critical,
            Some(rta) if pl >= w.loss_pct || rta >= w.rta_ms => Status::Warning,
            Some(_) => Status::Ok,
        };
        let opt_f = |v: f64| if v > 0.0 { format!("{v:.6}") } else { String::new() };
        let opt_u = |v: u32| if v > 0 { v.to_string() } else { String::new() };
        let mut out = format!("PING {} - Packet loss = {pl}%", status.label());
        match rta_ms {
            Some(rta) => {
                let _ =
                    write!(out, ", RTA = {rta:.2} ms|rta={rta:.6}ms;{};{};0.000000", opt_f(w.rta_ms), opt_f(c.rta_ms));
            }
            None => {
                let _ = write!(out, "| rta=U;{};{};;", opt_f(w.rta_ms), opt_f(c.rta_ms));
            }
        }
        let _ = write!(out, " pl={pl}%;{};{};0;", opt_u(w.loss_pct), opt_u(c.loss_pct));
        CheckResult { status, output: out }
    }
}
