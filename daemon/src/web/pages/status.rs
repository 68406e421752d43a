//! The status page: counts by status per site, then the problems (worst first), then
//! every host and cluster with its checks grouped by category and application
//! (compared lower-cased, as the guide says). Pure: data in, HTML out.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::str::FromStr;

use bergamot_config::status::Status;
use jiff::Timestamp;

use super::{OUTPUT_CHARS, Esc, age, badge, badge_with, check_link, check_row, clip, head, markers, state_word, tail};
use crate::api::{CheckView, SiteView};
use crate::web::routes::encode_path_into;

/// At most this many checks are listed under hosts and clusters, and at most
/// [`PROBLEMS_SHOWN`] problems: a row is about 300 bytes (100 checks make a 35 KB
/// page), so a full page stays under 500 KB even in a storm of failures (measured:
/// 470 KB for 2,000 checks of which 900 fail).
pub const STATUS_PAGE_CHECKS: usize = 1000;
const PROBLEMS_SHOWN: usize = 500;

/// What the status page shows.
#[derive(Debug)]
pub struct StatusPage<'a> {
    pub now: Timestamp,
    pub sites: &'a [SiteView],
    /// Worst first.
    pub problems: &'a [CheckView],
    /// The listed checks, in the owner's order; at most [`STATUS_PAGE_CHECKS`].
    pub checks: &'a [CheckView],
}

pub fn render_status(p: &StatusPage<'_>) -> String {
    let mut out = String::with_capacity(8192 + 256 * (p.problems.len() + p.checks.len()));
    head(&mut out, "Status", true);
    out.push_str("<main>");
    sites(&mut out, p.sites);
    problems(&mut out, p.now, p.problems);
    containers(&mut out, p.now, p.checks);
    if p.checks.len() >= STATUS_PAGE_CHECKS {
        let _ = write!(
            out,
            "<p class=s>Only the first {STATUS_PAGE_CHECKS} checks are listed: choose a site above, or ask <a href=\"/api/checks\">/api/checks</a>.</p>"
        );
    }
    out.push_str("</main>");
    tail(&mut out);
    out
}

fn sites(out: &mut String, sites: &[SiteView]) {
    out.push_str("<h2 id=sites>Sites</h2><table><tr><th>Site<th>Checks<th>Problems<th>By status</tr>");
    for s in sites {
        out.push_str("<tr><td><a href=\"/?site=");
        encode_path_into(out, &s.name);
        let _ = write!(
            out,
            "\">{}</a> <span class=s>{}</span><td>{}<td>{}<td>",
            Esc(&s.name),
            Esc(&s.summary),
            s.checks,
            s.problems
        );
        let mut counts: Vec<(&String, &usize)> = s.by_status.iter().filter(|(_, n)| **n > 0).collect();
        counts.sort_by_key(|(st, _)| std::cmp::Reverse(Status::from_str(st).ok()));
        for (st, n) in counts {
            badge_with(out, st, &format!(" {n}"));
            out.push(' ');
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn problems(out: &mut String, now: Timestamp, problems: &[CheckView]) {
    let _ = write!(out, "<h2 id=problems>Problems ({})</h2>", problems.len());
    if problems.is_empty() {
        out.push_str("<p>No problems.</p>");
        return;
    }
    out.push_str("<table><tr><th>Status<th>Check<th>Output<th>Since<th>State</tr>");
    for c in problems.iter().take(PROBLEMS_SHOWN) {
        out.push_str("<tr><td class=n>");
        badge(out, &c.status);
        out.push_str("<td>");
        check_link(out, &c.path, &c.path);
        let _ = write!(
            out,
            "<td class=o>{}<td class=n title=\"{}\">{}<td class=n>{}",
            Esc(&clip(&c.output, OUTPUT_CHARS)),
            Esc(&c.last_hard_change),
            age(now, &c.last_hard_change),
            state_word(c)
        );
        markers(out, c);
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if problems.len() > PROBLEMS_SHOWN {
        let _ = write!(
            out,
            "<p class=s>The {PROBLEMS_SHOWN} worst are listed; all {} are in <a href=\"/api/problems\">/api/problems</a>.</p>",
            problems.len()
        );
    }
}

/// A host or cluster and the checks it holds.
#[derive(Default)]
struct Container<'a> {
    own: Option<&'a CheckView>,
    members: Vec<&'a CheckView>,
}

/// Hosts before clusters within a site; sites, then containers, in name order.
type ContainerKey<'a> = (&'a str, u8, &'a str);

/// Named groups first, in order; then the unnamed (`None` sorts last through the flag).
type GroupKey = (bool, String, bool, String);

fn containers(out: &mut String, now: Timestamp, checks: &[CheckView]) {
    let mut by: BTreeMap<ContainerKey<'_>, Container<'_>> = BTreeMap::new();
    for c in checks {
        let (rank, own) = match c.kind.as_str() {
            "host" => (0, true),
            "cluster" => (1, true),
            "resource" => (1, false),
            _ => (0, false),
        };
        let entry = by.entry((c.site.as_str(), rank, c.container.as_str())).or_default();
        if own {
            entry.own = Some(c);
        } else {
            entry.members.push(c);
        }
    }
    out.push_str("<h2 id=hosts>Hosts and clusters</h2>");
    let mut site = None;
    for ((s, _, name), cont) in &by {
        if site != Some(*s) {
            let _ = write!(out, "<h3>{}</h3>", Esc(s));
            site = Some(*s);
        }
        container(out, now, name, cont);
    }
}

fn container(out: &mut String, now: Timestamp, name: &str, cont: &Container<'_>) {
    out.push_str("<div class=host><h4>");
    match cont.own {
        Some(own) => {
            badge(out, &own.status);
            out.push(' ');
            check_link(out, &own.path, &own.name);
            let _ = write!(out, " <span class=s>{}</span>", Esc(&own.summary));
            markers(out, own);
            let _ = write!(out, "</h4><div class=s>{}</div>", Esc(&clip(&own.output, OUTPUT_CHARS)));
        }
        None => {
            let _ = write!(out, "{}</h4>", Esc(name));
        }
    }
    // The guide: category and application are compared ignoring case.
    let mut groups: BTreeMap<GroupKey, Vec<&CheckView>> = BTreeMap::new();
    for m in &cont.members {
        let cat = m.category.as_deref().map(str::to_lowercase);
        let app = m.application.as_deref().map(str::to_lowercase);
        let key = (cat.is_none(), cat.unwrap_or_default(), app.is_none(), app.unwrap_or_default());
        groups.entry(key).or_default().push(m);
    }
    // One table per container, so columns line up across its groups.
    let any = !groups.is_empty();
    let grouped = groups.len() > 1;
    if any {
        out.push_str("<table>");
    }
    for ((no_cat, cat, no_app, app), mut members) in groups {
        let label = match (no_cat, no_app) {
            (false, false) => format!("{cat} · {app}"),
            (false, true) => cat,
            (true, false) => app,
            (true, true) if grouped => "other".to_string(),
            (true, true) => String::new(),
        };
        if !label.is_empty() {
            let _ = write!(out, "<tr class=g><td colspan=4>{}</tr>", Esc(&label));
        }
        members.sort_by_cached_key(|m| m.name.to_lowercase());
        for m in members {
            check_row(out, now, m);
        }
    }
    if any {
        out.push_str("</table>");
    }
    out.push_str("</div>");
}
