//! `bergamot-cli config validate DIR`: rustc-style diagnostics and object counts.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use bergamot_config::raw::Kind;

pub fn run(dir: &Path, json: bool, warnings: bool) -> Result<ExitCode, String> {
    let outcome = bergamot_config::load_model(dir);
    let model = &outcome.model;
    let mut diags = outcome.diags.clone();
    if !warnings {
        diags.items.retain(|d| d.is_error());
    }
    let errors = outcome.diags.errors().count();
    let warns = outcome.diags.warnings().count();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if json {
        let sites: Vec<_> = model
            .sites
            .iter()
            .map(|s| {
                let counts: serde_json::Map<String, serde_json::Value> = Kind::ALL
                    .iter()
                    .map(|&k| (k.element().to_string(), serde_json::json!(count(s, k))))
                    .collect();
                serde_json::json!({ "site": &*s.name, "objects": counts, "checks": s.checks.len() })
            })
            .collect();
        let items: Vec<_> = diags
            .items
            .iter()
            .map(|d| {
                let at = d.span.map(|s| {
                    serde_json::json!({ "file": model.sources.path(s.file).display().to_string(), "line": s.line, "column": s.col })
                });
                serde_json::json!({ "severity": d.severity, "message": d.message, "object": d.object, "hint": d.hint, "at": at })
            })
            .collect();
        let doc = serde_json::json!({ "ok": errors == 0, "errors": errors, "warnings": warns, "sites": sites, "diagnostics": items });
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
    } else {
        eprint!("{}", diags.render(&model.sources));
        for s in &model.sites {
            let _ = writeln!(out, "site {}: {} checks", s.name, s.checks.len());
            for k in Kind::ALL {
                let (real, templates) = count(s, k);
                if real + templates > 0 {
                    let _ = writeln!(out, "  {:<16} {:>8}  ({} templates)", k.element(), real, templates);
                }
            }
        }
        let verdict = if errors == 0 { "valid" } else { "invalid" };
        let _ = writeln!(
            out,
            "{verdict}: {} file(s), {} site(s), {errors} error(s), {warns} warning(s)",
            model.sources.len(),
            model.sites.len()
        );
    }
    Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// (real, templates) objects of a kind; nested checks count once per real container.
fn count(site: &bergamot_config::model::Site, kind: Kind) -> (usize, usize) {
    if kind.is_nested_kind() {
        let real = site.checks.iter().filter(|c| c.kind == kind).count();
        return (real, site.table(kind).len());
    }
    let t = site.table(kind);
    let templates = t.iter().filter(|r| r.template).count();
    (t.len() - templates, templates)
}
