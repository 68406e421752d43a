//! The JSON API under `/api/`: a [`Route`] and its query and body → the owner's or
//! the history source's answer as JSON. Every answer is `{"kind": K, "value": V}`:
//! the owner's `crate::api::Response` as serde writes it (`sites`, `checks`, `check`,
//! `health`, `reload`, `done`), and the same envelope around the store's records
//! (`history`, `readings`, `comments`, `alerts`, `downtimes`). Errors are
//! `{"error": "...", "status": N}`, written by the server.

use std::cmp::Ordering;
use std::str::FromStr;

use bergamot_config::status::Status;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::history::HistorySource;
use super::routes::{Query, Route};
use super::server::Ctx;
use crate::api::{Action, ApiError, CheckFilter, CheckView, Request, Response};

/// History lines answered when `limit` is not given, and the most ever answered.
const HISTORY_DEFAULT: usize = 100;
const HISTORY_MAX: usize = 10_000;
const ALERTS_DEFAULT: usize = 200;

/// Answers one API route (status 200 when `Ok`).
pub async fn handle(ctx: &Ctx, route: Route, query: &Query, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match route {
        Route::Sites => {
            let r = ctx.api.call(Request::Sites).await?;
            passed(r, |r| matches!(r, Response::Sites(_)))
        }
        Route::Checks => {
            let filter = filter(query, query.flag("problems")?)?;
            to_json(&Response::Checks(checks(ctx, filter).await?))
        }
        Route::Problems => {
            // Sorted here, so the limit applies to the worst, not to the first found.
            let limit = query.count("limit")?;
            let mut v = checks(ctx, CheckFilter { limit: None, ..filter(query, true)? }).await?;
            v.sort_by(problems_order);
            v.truncate(limit.unwrap_or(usize::MAX));
            to_json(&Response::Checks(v))
        }
        Route::Check(path) => to_json(&Response::Check(check(ctx, path).await?)),
        Route::History(path) => {
            check(ctx, path.clone()).await?;
            let limit = query.count("limit")?.unwrap_or(HISTORY_DEFAULT).min(HISTORY_MAX);
            envelope("history", &store(ctx, move |h| h.history(&path, limit)).await?)
        }
        Route::Readings(path) => {
            let to = query.time("to")?.unwrap_or_else(|| (ctx.clock)());
            let from = match query.time("from")? {
                Some(t) => t,
                None => to.checked_sub(SignedDuration::from_hours(24)).unwrap_or(to),
            };
            if from > to {
                return Err(ApiError::bad_request(format!("`from` ({from}) is after `to` ({to})")));
            }
            check(ctx, path.clone()).await?;
            envelope("readings", &store(ctx, move |h| h.readings(&path, from, to)).await?)
        }
        Route::Comments(path) => {
            check(ctx, path.clone()).await?;
            envelope("comments", &store(ctx, move |h| h.comments(&path)).await?)
        }
        Route::Alerts => {
            let open = query.flag("open")?;
            let limit = query.count("limit")?.unwrap_or(ALERTS_DEFAULT).min(HISTORY_MAX);
            envelope("alerts", &store(ctx, move |h| h.alerts(open, limit)).await?)
        }
        Route::Downtimes => {
            let all = query.flag("all")?;
            let now = (ctx.clock)();
            envelope("downtimes", &store(ctx, move |h| h.downtimes(all, now)).await?)
        }
        Route::Health => {
            let r = ctx.api.call(Request::Health).await?;
            passed(r, |r| matches!(r, Response::Health(_)))
        }
        Route::LastReload | Route::Reload => {
            let request = if route == Route::Reload { Request::Reload } else { Request::LastReload };
            passed(ctx.api.call(request).await?, |r| matches!(r, Response::Reload(_)))
        }
        Route::Actions => act(ctx, parse_action(body)?).await,
        Route::Recheck(path) => act(ctx, Action::Recheck { path }).await,
        Route::StatusPage | Route::CheckPage(_) => Err(ApiError::not_found("API endpoint")),
    }
}

/// An action from a request body. `by` defaults to `api` (there are no logins yet).
pub fn parse_action(body: &[u8]) -> Result<Action, ApiError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    if let Some(obj) = value.as_object_mut() {
        obj.entry("by").or_insert_with(|| "api".into());
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("not an action: {e}")))
}

/// An applied action answers `{"kind": "done", "value": {"id": 12}}` (the id of what
/// it made, or null).
async fn act(ctx: &Ctx, action: Action) -> Result<Vec<u8>, ApiError> {
    passed(ctx.api.call(Request::Action(action)).await?, |r| matches!(r, Response::Done { .. }))
}

/// The owner's answer as it is, when it is the kind asked for.
fn passed(r: Response, expected: impl Fn(&Response) -> bool) -> Result<Vec<u8>, ApiError> {
    if expected(&r) { to_json(&r) } else { Err(unexpected()) }
}

/// Records from the store, in the same envelope as the owner's answers.
#[derive(Serialize)]
struct Envelope<'a, T> {
    kind: &'a str,
    value: &'a T,
}

fn envelope<T: Serialize>(kind: &str, value: &T) -> Result<Vec<u8>, ApiError> {
    to_json(&Envelope { kind, value })
}

fn filter(query: &Query, problems: bool) -> Result<CheckFilter, ApiError> {
    let owned = |k| query.get(k).map(str::to_string);
    Ok(CheckFilter {
        site: owned("site"),
        kind: owned("kind"),
        container: owned("container"),
        problems,
        limit: query.count("limit")?,
    })
}

async fn checks(ctx: &Ctx, filter: CheckFilter) -> Result<Vec<CheckView>, ApiError> {
    match ctx.api.call(Request::Checks(filter)).await? {
        Response::Checks(v) => Ok(v),
        _ => Err(unexpected()),
    }
}

/// The check (404 when there is none).
async fn check(ctx: &Ctx, path: String) -> Result<Box<CheckView>, ApiError> {
    match ctx.api.call(Request::Check { path }).await? {
        Response::Check(v) => Ok(v),
        _ => Err(unexpected()),
    }
}

/// Runs a blocking read of the history source off the executor thread.
pub async fn store<T, F>(ctx: &Ctx, read: F) -> Result<T, ApiError>
where
    F: FnOnce(&dyn HistorySource) -> Result<T, String> + Send + 'static,
    T: Send + 'static,
{
    let source = ctx.history.clone();
    smol::unblock(move || read(&*source))
        .await
        .map_err(|e| ApiError { status: 500, message: format!("reading the store: {e}") })
}

/// Worst status first, then the oldest hard change (the longest-standing problem).
pub fn problems_order(a: &CheckView, b: &CheckView) -> Ordering {
    let status = |c: &CheckView| Status::from_str(&c.status).ok();
    let since = |c: &CheckView| c.last_hard_change.parse::<Timestamp>().ok();
    status(b)
        .cmp(&status(a))
        .then_with(|| match (since(a), since(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => a.last_hard_change.cmp(&b.last_hard_change),
        })
        .then_with(|| a.path.cmp(&b.path))
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|e| ApiError { status: 500, message: format!("cannot write the answer: {e}") })
}

fn unexpected() -> ApiError {
    ApiError { status: 500, message: "the daemon answered with something else than asked".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_from_bodies() {
        let ok: &[(&str, Action)] = &[
            (
                r#"{"action":"acknowledge","path":"s/host/a","comment":"on it"}"#,
                Action::Acknowledge { path: "s/host/a".into(), comment: "on it".into(), by: "api".into() },
            ),
            (r#"{"action":"cancel-downtime","id":4,"by":"ann"}"#, Action::CancelDowntime { id: 4, by: "ann".into() }),
            (r#"{"action":"recheck","path":"s/host/a"}"#, Action::Recheck { path: "s/host/a".into() }),
        ];
        for (body, want) in ok {
            assert_eq!(&parse_action(body.as_bytes()).unwrap(), want, "{body}");
        }
        let bad: &[(&str, &str)] = &[
            ("{", "malformed JSON: EOF while parsing"),
            ("", "malformed JSON"),
            (r#"{"action":"explode","path":"x"}"#, "not an action: unknown variant `explode`"),
            (r#"{"path":"x"}"#, "not an action: missing field `action`"),
            (r#"{"action":"acknowledge","path":"x"}"#, "not an action: missing field `comment`"),
            ("[1]", "not an action"),
        ];
        for (body, want) in bad {
            let e = parse_action(body.as_bytes()).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.starts_with(want), "{body}: {}", e.message);
        }
    }

    #[test]
    fn problems_worst_then_oldest() {
        let c = |path: &str, status: &str, since: &str| CheckView {
            path: path.into(),
            status: status.into(),
            last_hard_change: since.into(),
            ..crate::web::pages::tests_support::view()
        };
        let mut v = [
            c("w-new", "WARNING", "2024-05-02T00:00:00Z"),
            c("c-new", "CRITICAL", "2024-05-02T00:00:00.5Z"),
            c("c-old", "CRITICAL", "2024-05-01T00:00:00Z"),
            c("c-mid", "CRITICAL", "2024-05-02T00:00:00Z"),
            c("odd", "BOGUS", "2024-04-01T00:00:00Z"),
            c("u", "UNKNOWN", "2024-05-03T00:00:00Z"),
        ];
        v.sort_by(problems_order);
        let order: Vec<_> = v.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(order, ["u", "c-old", "c-mid", "c-new", "w-new", "odd"]);
    }
}
