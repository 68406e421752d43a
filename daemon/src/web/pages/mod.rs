//! Server-rendered HTML: the status page and a check's page. This module gathers what
//! a page shows (from the engine's owner and the history source); `status` and
//! `check` render it, purely. Every string from the configuration or from checks is
//! escaped ([`Esc`]): outputs come from the network.

mod check;
mod status;

use std::fmt::{self, Write};

use jiff::{SignedDuration, Timestamp};

use super::assets::CSS;
use super::json::{problems_order, store};
use super::routes::{Query, encode_path_into};
use super::server::Ctx;
use crate::api::{ApiError, CheckFilter, CheckView, Request, Response};

pub use check::{CheckPage, render_check};
pub use status::{STATUS_PAGE_CHECKS, StatusPage, render_status};

/// History lines on a check's page.
const HISTORY_LINES: usize = 50;

/// `GET /`: `?site=NAME` shows one site.
pub async fn status_page(ctx: &Ctx, query: &Query) -> Result<String, ApiError> {
    let site = query.get("site").map(str::to_string);
    let Response::Sites(mut sites) = ctx.api.call(Request::Sites).await? else {
        return Err(unexpected());
    };
    if let Some(s) = &site {
        sites.retain(|v| &v.name == s);
        if sites.is_empty() {
            return Err(ApiError::not_found(format_args!("site `{s}`")));
        }
    }
    let problems = checks(ctx, CheckFilter { site: site.clone(), problems: true, ..CheckFilter::default() }).await?;
    let mut problems = problems;
    problems.sort_by(problems_order);
    let listed = checks(ctx, CheckFilter { site, limit: Some(STATUS_PAGE_CHECKS), ..CheckFilter::default() }).await?;
    Ok(render_status(&StatusPage { now: (ctx.clock)(), sites: &sites, problems: &problems, checks: &listed }))
}

/// `GET /check/{path}`.
pub async fn check_page(ctx: &Ctx, path: &str) -> Result<String, ApiError> {
    let Response::Check(view) = ctx.api.call(Request::Check { path: path.to_string() }).await? else {
        return Err(unexpected());
    };
    let now = (ctx.clock)();
    // A host or cluster page also lists what it contains.
    let members = if matches!(view.kind.as_str(), "host" | "cluster") {
        let filter = CheckFilter {
            site: Some(view.site.clone()),
            container: Some(view.container.clone()),
            ..CheckFilter::default()
        };
        let mut m = checks(ctx, filter).await?;
        m.retain(|c| c.path != view.path);
        m
    } else {
        Vec::new()
    };
    // The store's troubles do not hide the live state: they are shown in place.
    let from = now.checked_sub(SignedDuration::from_hours(24)).unwrap_or(now);
    let p = path.to_string();
    let history = store(ctx, move |h| h.history(&p, HISTORY_LINES)).await;
    let p = path.to_string();
    let readings = store(ctx, move |h| h.readings(&p, from, now)).await;
    let p = path.to_string();
    let comments = store(ctx, move |h| h.comments(&p)).await;
    Ok(render_check(&CheckPage {
        now,
        view: &view,
        members: &members,
        history: history.as_deref().map_err(|e| e.message.as_str()),
        readings: readings.as_deref().map_err(|e| e.message.as_str()),
        comments: comments.as_deref().map_err(|e| e.message.as_str()),
    }))
}

async fn checks(ctx: &Ctx, filter: CheckFilter) -> Result<Vec<CheckView>, ApiError> {
    match ctx.api.call(Request::Checks(filter)).await? {
        Response::Checks(v) => Ok(v),
        _ => Err(unexpected()),
    }
}

fn unexpected() -> ApiError {
    ApiError { status: 500, message: "the daemon answered with something else than asked".into() }
}

/// A page for an error (`404`, `503`…).
pub fn error_page(status: u16, message: &str) -> String {
    let mut out = String::with_capacity(2048);
    head(&mut out, &format!("{status}"), false);
    let _ = write!(out, "<main><h2>{status}</h2><p>{}</p><p><a href=\"/\">Status</a></p></main>", Esc(message));
    tail(&mut out);
    out
}

/// Text made safe for HTML element content and quoted attribute values.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// The page up to `<body>`, with the header bar. `refresh`: reload every 30 s.
fn head(out: &mut String, title: &str, refresh: bool) {
    let _ = write!(
        out,
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">{}\
         <title>{} · Bergamot</title><style>{CSS}</style></head><body>\
         <header><h1><a href=\"/\">Bergamot</a></h1><span>{}</span></header>",
        if refresh { "<meta http-equiv=refresh content=30>" } else { "" },
        Esc(title),
        Esc(title),
    );
}

fn tail(out: &mut String) {
    out.push_str("</body></html>\n");
}

/// A status badge: `<span class="b critical">CRITICAL</span>`.
fn badge(out: &mut String, status: &str) {
    badge_with(out, status, "");
}

/// A status badge with more text after the status (`CRITICAL 2`).
fn badge_with(out: &mut String, status: &str, more: &str) {
    // The class is the status's letters only: a status is ten known words, but it is
    // text from the owner and must not break out of the attribute.
    let class: String = status.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    let _ = write!(out, "<span class=\"b {class}\">{}{}</span>", Esc(status), Esc(more));
}

/// A link to a check's page showing `text`.
fn check_link(out: &mut String, path: &str, text: &str) {
    out.push_str("<a href=\"/check/");
    encode_path_into(out, path);
    let _ = write!(out, "\">{}</a>", Esc(text));
}

/// The markers of a check that is not alerting normally.
fn markers(out: &mut String, c: &CheckView) {
    for (on, name) in [
        (c.acknowledged, "acknowledged"),
        (c.suppressed, "suppressed"),
        (c.in_downtime, "downtime"),
        (c.flapping, "flapping"),
        (!c.enabled, "disabled"),
    ] {
        if on {
            let _ = write!(out, "<span class=m>{name}</span>");
        }
    }
}

/// `soft 2` or `hard`.
/// One check as a table row: status, linked name with its markers, output (clipped
/// to [`OUTPUT_CHARS`]) and the age of its last change (the time itself on hover).
fn check_row(out: &mut String, now: Timestamp, c: &CheckView) {
    out.push_str("<tr><td class=n>");
    badge(out, &c.status);
    out.push_str("<td class=n>");
    check_link(out, &c.path, &c.name);
    markers(out, c);
    let _ = write!(
        out,
        "<td class=o>{}<td class=n title=\"{}\">{}</tr>",
        Esc(&clip(&c.output, OUTPUT_CHARS)),
        Esc(&c.last_change),
        age(now, &c.last_change)
    );
}

/// Characters of output shown in a listing (the check's page has all of it).
const OUTPUT_CHARS: usize = 200;

fn state_word(c: &CheckView) -> String {
    if c.hard { "hard".to_string() } else { format!("soft {}", c.attempt) }
}

/// How long ago `at` was, as `3d 4h`, `2h 5m`, `7m`, `12s`; `-` when unparsable.
pub fn age(now: Timestamp, at: &str) -> String {
    let Ok(t) = at.parse::<Timestamp>() else {
        return "-".to_string();
    };
    let s = now.duration_since(t).as_secs().max(0);
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// At most `max` characters of `s` (on a character boundary), with `…` when cut.
fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// Records from the history source, or why they could not be read.
pub type Store<'a, T> = Result<&'a [T], &'a str>;

#[cfg(test)]
pub mod tests_support {
    use crate::api::CheckView;

    /// An OK service with every field set, for tests to override.
    pub fn view() -> CheckView {
        CheckView {
            path: "s/host/h/service/x".into(),
            site: "s".into(),
            kind: "service".into(),
            name: "x".into(),
            container: "h".into(),
            summary: String::new(),
            category: None,
            application: None,
            status: "OK".into(),
            output: "OK".into(),
            long_output: String::new(),
            perfdata: String::new(),
            ok: true,
            hard: true,
            attempt: 1,
            last_hard_status: "OK".into(),
            last_change: "2024-05-01T00:00:00Z".into(),
            last_hard_change: "2024-05-01T00:00:00Z".into(),
            last_check: None,
            next_check: None,
            acknowledged: false,
            suppressed: false,
            in_downtime: false,
            flapping: false,
            alert: None,
            enabled: true,
            active: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        let table = [
            ("plain", "plain"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("a & b", "a &amp; b"),
            ("\"quoted\" 'single'", "&quot;quoted&quot; &#39;single&#39;"),
            ("ünïcode <", "ünïcode &lt;"),
            ("", ""),
        ];
        for (raw, want) in table {
            assert_eq!(Esc(raw).to_string(), want);
        }
    }

    #[test]
    fn ages() {
        let now: Timestamp = "2024-05-02T12:00:00Z".parse().unwrap();
        let table = [
            ("2024-05-02T11:59:48Z", "12s"),
            ("2024-05-02T11:53:00Z", "7m"),
            ("2024-05-02T09:55:00Z", "2h 5m"),
            ("2024-04-29T08:00:00Z", "3d 4h"),
            ("2024-05-02T12:00:05Z", "0s"),
            ("never", "-"),
        ];
        for (at, want) in table {
            assert_eq!(age(now, at), want, "{at}");
        }
    }

    #[test]
    fn clips_on_characters() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("héllo", 5), "héllo");
    }
}
