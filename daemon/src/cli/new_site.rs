//! `bergamot-cli config new-site NAME DIR`: writes the starter site (the guide's
//! recommended templates, periods, teams and commands), which validates clean.

use std::path::Path;
use std::process::ExitCode;

/// The starter files; `@SITE@` is replaced by the site's name.
const FILES: &[(&str, &str)] = &[
    ("site.xml", include_str!("starter/site.xml")),
    ("time-periods.xml", include_str!("starter/time-periods.xml")),
    ("contacts.xml", include_str!("starter/contacts.xml")),
    ("commands.xml", include_str!("starter/commands.xml")),
    ("templates.xml", include_str!("starter/templates.xml")),
    ("hosts.xml", include_str!("starter/hosts.xml")),
];

pub fn run(name: &str, dir: &Path) -> Result<ExitCode, String> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !valid {
        return Err(format!("site name `{name}` must be letters, digits, `.`, `-` or `_` (usually a domain name)"));
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?.next().is_some() {
        return Err(format!("{} exists and is not empty; choose a new directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (file, text) in FILES {
        let path = dir.join(file);
        std::fs::write(&path, text.replace("@SITE@", name)).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    println!("wrote site `{name}` to {} ({} files)", dir.display(), FILES.len());
    println!("next: bergamot-cli config validate {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
