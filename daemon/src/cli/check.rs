//! `bergamot-cli check DIR HOST [SERVICE]`: runs one check now, exactly as the daemon
//! would (same model, same parameters, same probes), and prints its parameters,
//! command and result — the way an operator debugs a check.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use bergamot_config::raw::Kind;
use bergamot_netprobes::accel::AccelLimits;
use bergamot_netprobes::driver::IoChoice;
use bergamot_netprobes::exec::ExecConfig;
use serde_json::json;

use crate::exec::{Run, Runner, probe_spec};
use crate::plan::Plan;

pub fn run(
    dir: &Path,
    host: &str,
    check: Option<&str>,
    site: Option<&str>,
    json_out: bool,
) -> Result<ExitCode, String> {
    let model = super::load_for_inspection(dir);
    let site = super::pick_site(&model, site)?.name.to_string();
    let plan = Plan::new(Arc::new(model));
    let ix = match check {
        None => plan.find(&site, Kind::Host, host, None),
        Some(name) => {
            plan.find(&site, Kind::Service, name, Some(host)).or_else(|| plan.find(&site, Kind::Trap, name, Some(host)))
        }
    }
    .ok_or_else(|| match check {
        None => format!("no host `{host}` in site {site}"),
        Some(name) => format!("no service or trap `{name}` on host `{host}` in site {site}"),
    })?;
    let (site_model, obj, container) = plan.object(ix).ok_or("the check vanished from the model")?;
    let spec = probe_spec(site_model, obj, container);
    let runner = Runner::new(IoChoice::Auto, AccelLimits::default(), ExecConfig::default());
    let (result, accel) = smol::block_on(runner.run(&spec.run));
    let how = match (&spec.run, &accel) {
        (Run::Fixed { .. }, _) => "fixed (dummy engine)".to_string(),
        (Run::Broken { .. }, _) => "not run".to_string(),
        (_, Some(a)) if a.native => {
            format!("native, in process ({})", a.backend.map(|b| format!("{b:?}")).unwrap_or_default())
        }
        (_, Some(a)) => match &a.fallback {
            Some(f) => format!("plugin process ({f})"),
            None => "plugin process".to_string(),
        },
        (_, None) => String::new(),
    };
    let path = plan.path(ix);
    if json_out {
        let params: Vec<_> = spec
            .params
            .iter()
            .map(|p| json!({"name": &*p.name, "value": &*p.value, "evaluated": p.evaluated}))
            .collect();
        let out = json!({
            "check": path,
            "command": spec.command,
            "engine": spec.engine.map(|e| e.as_str()),
            "parameters": params,
            "command_line": spec.line,
            "ran": how,
            "result": {
                "status": result.status.as_str(),
                "output": result.output,
                "long_output": result.long_output,
                "perfdata": result.perfdata,
                "duration_ms": result.duration.as_secs_f64() * 1000.0,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?);
    } else {
        println!("check:      {path}");
        println!("command:    {} (engine {})", spec.command, spec.engine.map_or("?", |e| e.as_str()));
        if !spec.params.is_empty() {
            println!("parameters:");
            let width = spec.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
            for p in &spec.params {
                if *p.value == *p.evaluated {
                    println!("  {:width$} = {}", &*p.name, p.evaluated);
                } else {
                    println!("  {:width$} = {}   (from {})", &*p.name, p.evaluated, &*p.value);
                }
            }
        }
        if !spec.line.is_empty() {
            println!("runs:       {}", spec.line);
        }
        println!("how:        {how}");
        println!("status:     {}", result.status.as_str());
        println!("output:     {}", result.output);
        if !result.long_output.is_empty() {
            println!("long output:");
            for line in result.long_output.lines() {
                println!("  {line}");
            }
        }
        if !result.perfdata.is_empty() {
            println!("perfdata:   {}", result.perfdata);
        }
        println!("took:       {:.1} ms", result.duration.as_secs_f64() * 1000.0);
    }
    // Plugin-style exit status, so scripts can use it like the plugin itself.
    Ok(ExitCode::from(match result.status.as_str() {
        "OK" | "PENDING" | "INFO" => 0,
        "WARNING" => 1,
        "CRITICAL" => 2,
        _ => 3,
    }))
}
