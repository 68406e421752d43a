//! Bergamot's configuration engine: what the XML says, resolved into the site model.
//!
//! Two phases (STYLE.md): [`raw`] mirrors what the user wrote, with a [`span::Span`]
//! on every object and value; [`resolve`] applies inheritance and [`validate`] checks
//! references, giving an immutable [`model::Model`] plus every [`diag::Diagnostic`].
//! Nothing here does network I/O or reads the clock.

pub mod bind;
pub mod condition;
pub mod diag;
pub mod expr;
pub mod interval;
pub mod load;
pub mod model;
pub mod props;
pub mod raw;
pub mod resolve;
pub mod show;
pub mod span;
pub mod status;
pub mod timeperiod;
pub mod validate;
pub mod view;

use std::path::Path;

use jiff::tz::TimeZone;

use crate::diag::{Diagnostic, Diagnostics};
use crate::load::Loaded;
use crate::model::{Model, Site};
use crate::props::{Key, Value};
use crate::raw::Kind;
use crate::timeperiod::{Calendar, PeriodDef};

/// A model and everything found while building it. The model is usable (for
/// `config show`) even with errors; a daemon refuses a load with errors.
#[derive(Debug)]
pub struct Outcome {
    pub model: Model,
    pub diags: Diagnostics,
}

/// Loads, resolves and validates every site under `dir`, with the appliance's zone
/// as the default for sites that set none.
pub fn load_model(dir: &Path) -> Outcome {
    build(load::load_path(dir), TimeZone::system())
}

/// Builds the model from what [`load`] read.
pub fn build(loaded: Loaded, default_tz: TimeZone) -> Outcome {
    let Loaded { raw, sources, mut diags } = loaded;
    let mut sites = Vec::with_capacity(raw.sites.len());
    for (i, rs) in raw.sites.iter().enumerate() {
        let objects = resolve::resolve_site(&raw, i, &sources, &mut diags);
        let time_zone =
            rs.props.text(Key::TimeZone).and_then(|z| TimeZone::get(z).ok()).unwrap_or_else(|| default_tz.clone());
        let calendar = calendar(&objects, &time_zone, rs, &raw, &mut diags);
        let (checks, host_check, cluster_check, pools) = Site::index_checks(&objects);
        sites.push(Site {
            name: rs.name.clone(),
            raw_index: i,
            props: rs.props.normalise(),
            objects,
            time_zone,
            calendar,
            checks,
            host_check,
            cluster_check,
            pools,
        });
    }
    sites.sort_by(|a, b| a.name.cmp(&b.name));
    let model = Model { raw, sources, sites };
    validate::validate(&model, &mut diags);
    diags.sort();
    Outcome { model, diags }
}

fn calendar(
    objects: &resolve::Objects,
    tz: &TimeZone,
    site: &raw::RawSite,
    raw: &raw::RawConfig,
    diags: &mut Diagnostics,
) -> Calendar {
    let table = objects.table(Kind::TimePeriod);
    // Built again (without exclusions) only when they form a cycle.
    let defs = |with_excludes: bool| -> Vec<PeriodDef> {
        table
            .iter()
            .map(|p| PeriodDef {
                name: p.name.to_string(),
                // Bad ranges are reported once by validation, where they are written.
                ranges: p
                    .props
                    .items(Key::TimeRanges)
                    .iter()
                    .filter_map(|r| timeperiod::parse_range(&r.value).ok())
                    .collect(),
                excludes: match with_excludes {
                    true => p.props.items(Key::Excludes).iter().filter_map(|e| table.index_of(&e.value)).collect(),
                    false => Vec::new(),
                },
                time_zone: match p.props.get(Key::TimeZone).map(|z| &z.value) {
                    Some(Value::Text(z)) => TimeZone::get(z).ok(),
                    _ => None,
                },
            })
            .collect()
    };
    match Calendar::new(defs(true), tz.clone()) {
        Ok(c) => c,
        Err(e) => {
            let first = e.path.first().and_then(|n| table.get(n));
            let span = first.map(|p| raw.object(p.obj).span).unwrap_or(site.span);
            let mut d = Diagnostic::error(Some(span), e.to_string())
                .hint("a time period cannot exclude itself, directly or through the periods it excludes");
            if let Some(p) = first {
                d = d.object(raw.path(p.obj));
            }
            diags.push(d);
            // Keep a usable calendar: drop every exclusion.
            Calendar::new(defs(false), tz.clone()).unwrap_or_else(|_| unreachable!("no exclusions, no cycles"))
        }
    }
}
