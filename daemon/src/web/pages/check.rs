//! A check's page: its state, full output, perfdata, a graph per series of the last
//! day's readings, its history and comments; a host's or cluster's page also lists
//! what it holds. Pure: data in, HTML out.

use std::fmt::Write;

use jiff::Timestamp;

use super::{Esc, Store, age, badge, check_row, head, markers, state_word, tail};
use crate::api::CheckView;
use crate::web::graph;
use crate::web::history::{CommentRow, HistoryEntry, Series};
use crate::web::routes::encode_path_into;

/// Size of each graph, in pixels.
const GRAPH_W: u32 = 420;
const GRAPH_H: u32 = 110;

/// What a check's page shows.
#[derive(Debug)]
pub struct CheckPage<'a> {
    pub now: Timestamp,
    pub view: &'a CheckView,
    /// The checks of a host or cluster (empty for the others).
    pub members: &'a [CheckView],
    pub history: Store<'a, HistoryEntry>,
    pub readings: Store<'a, Series>,
    pub comments: Store<'a, CommentRow>,
}

pub fn render_check(p: &CheckPage<'_>) -> String {
    let c = p.view;
    let mut out = String::with_capacity(16_384);
    head(&mut out, &c.path, false);
    out.push_str("<main><h2>");
    badge(&mut out, &c.status);
    let _ = write!(out, " {} <span class=s>{}</span></h2>", Esc(&c.name), Esc(&c.summary));
    state(&mut out, p.now, c);
    for (title, text) in [("Output", &c.output), ("Long output", &c.long_output), ("Performance data", &c.perfdata)] {
        if !text.is_empty() {
            let _ = write!(out, "<h3>{title}</h3><pre>{}</pre>", Esc(text));
        }
    }
    if !p.members.is_empty() {
        members(&mut out, p.now, p.members);
    }
    readings(&mut out, p.readings);
    history(&mut out, p.history);
    comments(&mut out, p.comments);
    out.push_str("<p class=s><a href=\"/api/check/");
    encode_path_into(&mut out, &c.path);
    out.push_str("\">as JSON</a></p></main>");
    tail(&mut out);
    out
}

fn state(out: &mut String, now: Timestamp, c: &CheckView) {
    out.push_str("<table>");
    row(out, "Path", &c.path);
    out.push_str("<tr><th>State<td>");
    let _ = write!(out, "{} {}", Esc(&c.status), state_word(c));
    markers(out, c);
    out.push_str("</tr>");
    row(out, "Last hard status", &c.last_hard_status);
    when(out, now, "Last hard change", Some(&c.last_hard_change));
    when(out, now, "Last change", Some(&c.last_change));
    when(out, now, "Last check", c.last_check.as_ref());
    row(out, "Next check", c.next_check.as_deref().unwrap_or("-"));
    if let Some(id) = c.alert {
        row(out, "Open alert", &id.to_string());
    }
    if c.category.is_some() || c.application.is_some() {
        let tags = [c.category.as_deref(), c.application.as_deref()];
        row(out, "Category · application", &tags.map(|t| t.unwrap_or("-")).join(" · "));
    }
    row(out, "Kind", &c.kind);
    if !c.enabled || !c.active {
        row(out, "Checking", if c.enabled { "passive" } else { "disabled" });
    }
    out.push_str("</table>");
}

fn row(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, "<tr><th>{key}<td>{}</tr>", Esc(value));
}

/// An instant with how long ago it was.
fn when(out: &mut String, now: Timestamp, key: &str, at: Option<&String>) {
    match at {
        Some(at) => {
            let _ = write!(out, "<tr><th>{key}<td>{} <span class=s>({} ago)</span></tr>", Esc(at), age(now, at));
        }
        None => row(out, key, "-"),
    }
}

fn members(out: &mut String, now: Timestamp, members: &[CheckView]) {
    out.push_str("<h3>Checks</h3><table>");
    for m in members {
        check_row(out, now, m);
    }
    out.push_str("</table>");
}

fn readings(out: &mut String, readings: Store<'_, Series>) {
    out.push_str("<h3>Readings, last 24 hours</h3>");
    match readings {
        Ok([]) => out.push_str("<p class=s>No readings.</p>"),
        Ok(series) => {
            out.push_str("<div>");
            for s in series {
                out.push_str(&graph::svg(s, GRAPH_W, GRAPH_H));
            }
            out.push_str("</div>");
        }
        Err(e) => unavailable(out, e),
    }
}

fn history(out: &mut String, history: Store<'_, HistoryEntry>) {
    out.push_str("<h3>History</h3>");
    match history {
        Ok([]) => out.push_str("<p class=s>Nothing recorded yet.</p>"),
        Ok(lines) => {
            out.push_str("<table><tr><th>At<th>Event<th>Status<th>State<th>Output</tr>");
            for h in lines {
                let _ = write!(out, "<tr><td class=n>{}<td class=n>{}<td class=n>", Esc(&h.at), Esc(&h.kind));
                if let Some(st) = &h.status {
                    badge(out, st);
                }
                out.push_str("<td class=n>");
                match (h.hard, h.attempt) {
                    (Some(true), _) => out.push_str("hard"),
                    (Some(false), Some(n)) => {
                        let _ = write!(out, "soft {n}");
                    }
                    (Some(false), None) => out.push_str("soft"),
                    (None, _) => {}
                }
                if let Some(id) = h.alert_id {
                    let _ = write!(out, " <span class=m>alert {id}</span>");
                }
                let _ = write!(out, "<td class=o>{}", Esc(&h.output));
                if let Some(by) = &h.by {
                    let _ = write!(out, " <span class=s>by {}</span>", Esc(by));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
        }
        Err(e) => unavailable(out, e),
    }
}

fn comments(out: &mut String, comments: Store<'_, CommentRow>) {
    match comments {
        Ok([]) => {}
        Ok(rows) => {
            out.push_str("<h3>Comments</h3><table>");
            for r in rows {
                let _ = write!(
                    out,
                    "<tr><td class=n>{}<td class=n>{}<td class=o>{}</tr>",
                    Esc(&r.at),
                    Esc(&r.by),
                    Esc(&r.text)
                );
            }
            out.push_str("</table>");
        }
        Err(e) => {
            out.push_str("<h3>Comments</h3>");
            unavailable(out, e);
        }
    }
}

fn unavailable(out: &mut String, why: &str) {
    let _ = write!(out, "<p class=s>Not available: {}</p>", Esc(why));
}
