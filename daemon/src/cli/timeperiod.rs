//! `bergamot-cli timeperiod DIR NAME [--site S] [--at RFC3339] [--json]`.

use std::path::Path;
use std::process::ExitCode;

use bergamot_config::raw::Kind;
use jiff::Timestamp;

pub fn run(dir: &Path, name: &str, site: Option<&str>, at: Option<&str>, json: bool) -> Result<ExitCode, String> {
    // The CLI is a driver: it may read the clock; the engine below never does.
    let t: Timestamp = match at {
        Some(s) => s.parse().map_err(|e| format!("--at `{s}` is not an RFC 3339 instant: {e}"))?,
        None => Timestamp::now(),
    };
    let model = super::load_for_inspection(dir);
    let site = super::pick_site(&model, site)?;
    let idx = site.table(Kind::TimePeriod).index_of(name).ok_or_else(|| {
        let mut m = format!("no time period `{name}` in site `{}`", site.name);
        if let Some(h) = bergamot_config::diag::did_you_mean(name, site.table(Kind::TimePeriod).names()) {
            m.push_str("; ");
            m.push_str(&h);
        }
        m
    })?;
    let active = site.calendar.is_active(idx, t);
    let next = site.calendar.next_change(idx, t);
    let zone = site.time_zone.iana_name().unwrap_or("system").to_string();
    if json {
        let doc = serde_json::json!({
            "site": &*site.name,
            "period": name,
            "at": t.to_string(),
            "active": active,
            "next_change": next.map(|n| n.to_string()),
            "next_change_local": next.map(|n| n.to_zoned(site.time_zone.clone()).to_string()),
            "time_zone": zone,
        });
        println!("{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
    } else {
        let local = t.to_zoned(site.time_zone.clone());
        println!("{name} is {} at {local}", if active { "active" } else { "inactive" });
        match next {
            Some(n) => println!(
                "becomes {} at {}",
                if active { "inactive" } else { "active" },
                n.to_zoned(site.time_zone.clone())
            ),
            None => println!("never changes"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
