//! `bergamot-cli config show DIR [--site S] TYPE NAME [--json]`: the resolved object,
//! its nested checks and evaluated command parameters, and where each value came from.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use bergamot_config::raw::Kind;
use bergamot_config::show::{describe, Description, Source};

pub fn run(dir: &Path, kind: &str, name: &str, site: Option<&str>, json: bool) -> Result<ExitCode, String> {
    let kind = Kind::from_element(kind).ok_or_else(|| {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.element()).collect();
        format!("unknown object type `{kind}` (one of: {})", kinds.join(", "))
    })?;
    let model = super::load_for_inspection(dir);
    let site = super::pick_site(&model, site)?;
    let d = describe(&model, site, kind, name)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?);
    } else {
        let mut out = String::new();
        render(&d, 0, &mut out);
        print!("{out}");
    }
    Ok(ExitCode::SUCCESS)
}

fn at(s: &Source) -> String {
    format!("{} ({}:{}:{})", s.object, s.file, s.line, s.column)
}

fn render(d: &Description, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let template = if d.template { " [template]" } else { "" };
    let _ = writeln!(out, "{pad}{} {}{template}", d.kind, d.name);
    let _ = writeln!(out, "{pad}  path:       {}", d.path);
    let _ = writeln!(out, "{pad}  defined at: {}:{}:{}", d.defined_at.file, d.defined_at.line, d.defined_at.column);
    if !d.extends.is_empty() {
        let _ = writeln!(out, "{pad}  extends:    {}", d.extends.join(", "));
    }
    let width = d.values.iter().map(|e| e.key.len() + e.value.len()).max().unwrap_or(0).min(70);
    for e in &d.values {
        let kv = format!("{} = {}", e.key, e.value);
        let _ = writeln!(out, "{pad}  {kv:<w$}  from {}", at(&e.from), w = width + 3);
    }
    if let Some(cmd) = &d.command {
        let _ = writeln!(out, "{pad}  command {cmd}:");
        for p in &d.parameters {
            let shown = if p.evaluated == p.value { p.value.clone() } else { format!("{}  (written `{}`)", p.evaluated, p.value) };
            let _ = writeln!(out, "{pad}    {} = {shown}", p.name);
            let _ = writeln!(out, "{pad}      from {}", at(&p.from));
        }
    }
    for n in &d.nested {
        render(n, depth + 1, out);
    }
}
