//! Helpers shared by the configuration engine's integration tests: loading the
//! guide's example sites and in-memory documents, reading resolved values back as
//! text, and printing diagnostics when an assertion fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bergamot_config::diag::{Diagnostic, Severity};
use bergamot_config::model::{CheckId, Model, Site};
use bergamot_config::props::{Origin, Props};
use bergamot_config::raw::Kind;
use bergamot_config::resolve::Resolved;
use bergamot_config::{Outcome, load, show};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `docs/examples/`.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

/// Every example site directory, sorted.
pub fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("docs/examples exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// One line per diagnostic, for assertion messages.
pub fn render(o: &Outcome) -> String {
    o.diags.items.iter().map(|d| line(&o.model, d)).collect::<Vec<_>>().join("\n")
}

pub fn line(model: &Model, d: &Diagnostic) -> String {
    let sev = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let at = d.span.map_or_else(|| "-".to_string(), |s| model.sources.locate(s));
    format!(
        "{sev} at {at} [{}]: {} (help: {})",
        d.object.as_deref().unwrap_or("-"),
        d.message,
        d.hint.as_deref().unwrap_or("-")
    )
}

pub fn assert_no_errors(o: &Outcome, what: &str) {
    assert!(!o.diags.has_errors(), "{what} has errors:\n{}", render(o));
}

/// Loads an example site directory and insists it has no errors.
pub fn example(dir: &str) -> Outcome {
    let o = bergamot_config::load_model(&examples_dir().join(dir));
    assert_no_errors(&o, dir);
    o
}

/// Builds in-memory documents `(file name, text)`, in order, with UTC as the
/// appliance's zone.
pub fn docs(files: &[(&str, &str)]) -> Outcome {
    bergamot_config::build(load::load_documents(files.iter().copied()), TimeZone::UTC)
}

/// The site called `name`.
pub fn site<'a>(o: &'a Outcome, name: &str) -> &'a Site {
    o.model.site(name).unwrap_or_else(|| panic!("no site {name}:\n{}", render(o)))
}

/// The only site of an outcome.
pub fn only_site(o: &Outcome) -> &Site {
    assert_eq!(o.model.sites.len(), 1, "expected one site:\n{}", render(o));
    &o.model.sites[0]
}

/// A top-level object.
pub fn obj<'a>(site: &'a Site, kind: Kind, name: &str) -> &'a Arc<Resolved> {
    site.get(kind, name).unwrap_or_else(|| panic!("no {kind} `{name}` in {}", site.name))
}

/// A nested service, trap or resource of a top-level host or cluster.
pub fn nested<'a>(site: &'a Site, kind: Kind, container: &str, name: &str) -> &'a Arc<Resolved> {
    let ck = if kind == Kind::Resource { Kind::Cluster } else { Kind::Host };
    obj(site, ck, container)
        .nested_named(kind, name)
        .unwrap_or_else(|| panic!("no {kind} `{name}` in {ck} `{container}`"))
}

/// The real check `kind name [on container]`, which must exist.
pub fn check(site: &Site, kind: Kind, name: &str, on: Option<&str>) -> CheckId {
    site.find_check(kind, name, on).unwrap_or_else(|| panic!("no real check {kind} `{name}` on {on:?}"))
}

/// The path of the raw object that wrote a value (`site/service/generic-service`).
pub fn from(model: &Model, origin: Origin) -> String {
    model.raw.path(origin.obj)
}

/// The values of an object after inheritance, flattened by `config show`'s
/// `describe`: `(key, value, object that wrote it)`. `name` is `HOST/NAME` for a
/// nested check.
pub fn shown(o: &Outcome, site: &Site, kind: Kind, name: &str) -> Vec<(String, String, String)> {
    let d = show::describe(&o.model, site, kind, name).unwrap_or_else(|e| panic!("{e}"));
    d.values.into_iter().map(|e| (e.key, e.value, e.from.object)).collect()
}

/// Every value of `key` (a dotted `config show` key), joined with `,`; empty when
/// unset.
pub fn value(o: &Outcome, site: &Site, kind: Kind, name: &str, key: &str) -> String {
    shown(o, site, kind, name).into_iter().filter(|(k, _, _)| k == key).map(|(_, v, _)| v).collect::<Vec<_>>().join(",")
}

/// The objects that wrote the values of `key`, joined with `,`.
pub fn value_from(o: &Outcome, site: &Site, kind: Kind, name: &str, key: &str) -> String {
    shown(o, site, kind, name).into_iter().filter(|(k, _, _)| k == key).map(|(_, _, f)| f).collect::<Vec<_>>().join(",")
}

/// The names of a name list (`groups`, `teams`…) of a property bag.
pub fn names(props: &Props, key: bergamot_config::props::Key) -> Vec<String> {
    props.items(key).iter().map(|i| i.value.to_string()).collect()
}

/// An RFC 3339 instant.
pub fn at(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("bad instant {s}: {e}"))
}

/// Whether time period `name` of `site` is active at `t`, through the site's
/// calendar (indexed like the site's time-period table).
pub fn active(site: &Site, name: &str, t: Timestamp) -> bool {
    let idx = site.table(Kind::TimePeriod).index_of(name).unwrap_or_else(|| panic!("no time period {name}"));
    assert_eq!(site.calendar.name(idx), Some(name), "calendar and table disagree");
    site.calendar.is_active(idx, t)
}

/// Position (1-based line, column in characters) of `needle` in `text`. A `|` in
/// the needle marks the exact spot (it is not part of the text searched for);
/// without one, the needle's first character. `needle#N` takes the N-th match.
pub fn position_of(text: &str, needle: &str) -> (u32, u32) {
    let (needle, nth) = match needle.rsplit_once('#') {
        Some((n, k)) if !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()) => (n, k.parse::<usize>().unwrap()),
        _ => (needle, 1),
    };
    let mark = needle.find('|').unwrap_or(0);
    let plain = needle.replacen('|', "", 1);
    let mut from = 0;
    let mut found = None;
    for _ in 0..nth {
        let i = text[from..].find(&plain).unwrap_or_else(|| panic!("`{plain}` not found (match {nth}) in:\n{text}"));
        found = Some(from + i);
        from += i + 1;
    }
    let offset = found.unwrap() + mark;
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32 + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() as u32 + 1;
    (line, col)
}
