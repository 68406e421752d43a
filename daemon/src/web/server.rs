//! The listener: accepts connections, serves HTTP/1.1 with hyper on smol's executor
//! (one task per connection, no threads of its own), guards against other sites'
//! pages driving the API, sends each request to its page or API handler, and stops
//! gracefully. The only place in `web` that reads the clock (`serve`).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, TcpListener, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use jiff::Timestamp;
use smol::Async;
use smol::channel::Receiver;
use smol_hyper::rt::{FuturesIo, SmolTimer};
use tracing::{debug, warn};

use super::history::HistorySource;
use super::routes::{Miss, Query, Route};
use super::{MAX_BODY, json, pages};
use crate::api::{ApiError, ApiHandle};

/// Connections served at once; more are closed at once (each holds buffers).
const MAX_CONNECTIONS: usize = 256;
/// A client has this long to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stop waits for requests in progress.
const GRACE: Duration = Duration::from_secs(5);

/// What every request handler may use.
pub struct Ctx {
    pub api: ApiHandle,
    pub history: Arc<dyn HistorySource + Send + Sync>,
    /// The daemon's clock (`now` for "the last 24 hours", ages on pages).
    pub clock: Box<dyn Fn() -> Timestamp + Send + Sync>,
    /// Listening on loopback only: then the `Host` a browser sends must be loopback too.
    loopback: bool,
}

/// Serves HTTP on `listener` until `stop` completes, then lets requests in progress
/// finish (for a few seconds) and returns. Spawns its connections on smol's global
/// executor; reads of `history` run on `smol::unblock`'s threads.
pub async fn serve(
    listener: Async<TcpListener>,
    api: ApiHandle,
    history: Arc<dyn HistorySource + Send + Sync>,
    stop: impl Future,
) {
    serve_with_clock(listener, api, history, Timestamp::now, stop).await;
}

/// [`serve`] with the daemon's clock (`run::Clock::now`) or a test's.
pub async fn serve_with_clock(
    listener: Async<TcpListener>,
    api: ApiHandle,
    history: Arc<dyn HistorySource + Send + Sync>,
    clock: impl Fn() -> Timestamp + Send + Sync + 'static,
    stop: impl Future,
) {
    let loopback = listener.get_ref().local_addr().is_ok_and(|a| a.ip().is_loopback());
    let ctx = Arc::new(Ctx { api, history, clock: Box::new(clock), loopback });
    // Closed (by dropping the sender) when the server stops: every connection sees it.
    let (stopping, stopped) = smol::channel::bounded::<()>(1);
    let mut conns: Vec<smol::Task<()>> = Vec::with_capacity(16);
    let mut stop = pin!(stop);
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.as_mut().await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, peer))) => {
                conns.retain(|t| !t.is_finished());
                if conns.len() >= MAX_CONNECTIONS {
                    warn!("http: {MAX_CONNECTIONS} connections already open, closing the one from {peer}");
                    continue;
                }
                conns.push(smol::spawn(connection(ctx.clone(), stream, stopped.clone())));
            }
            Some(Err(e)) => {
                // Out of descriptors, most likely: wait rather than spin.
                warn!("http: cannot accept a connection: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    drop(stopping);
    let finished = async {
        for task in conns.drain(..) {
            task.await;
        }
    };
    // Past the grace period the remaining tasks are dropped, which cancels them.
    future::or(finished, async {
        smol::Timer::after(GRACE).await;
    })
    .await;
}

async fn connection(ctx: Arc<Ctx>, stream: Async<TcpStream>, stopped: Receiver<()>) {
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(respond(&ctx, req).await) }
    });
    let mut conn = pin!(
        http1::Builder::new()
            .timer(SmolTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(FuturesIo::new(stream), service)
    );
    let first = future::or(async { Some(conn.as_mut().await) }, async {
        // Err once the server stops: nothing is ever sent.
        let _ = stopped.recv().await;
        None
    })
    .await;
    let result = match first {
        Some(r) => r,
        None => {
            // Finish the request in progress, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!("http: connection: {e}");
    }
}

type Answer = Response<Full<Bytes>>;

async fn respond(ctx: &Ctx, req: Request<Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let api = Route::is_api_path(&path);
    let fail = |e: ApiError| if api { json_error(&e) } else { html_error(&e) };
    if let Err(e) = guard(ctx, &req) {
        return fail(e);
    }
    let route = match Route::parse(req.method().as_str(), &path) {
        Ok(r) => r,
        Err(Miss::NotFound) => return fail(ApiError::not_found(format_args!("page `{path}`"))),
        Err(Miss::BadPath(m)) => return fail(ApiError::bad_request(m)),
        Err(Miss::Method(allow)) => {
            let mut r = fail(ApiError { status: 405, message: format!("{} is not allowed here", req.method()) });
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            return r;
        }
    };
    let query = match Query::parse(req.uri().query()) {
        Ok(q) => q,
        Err(e) => return fail(e),
    };
    let body = if req.method() == Method::POST {
        match read_body(req.into_body()).await {
            Ok(b) => b,
            Err(e) => return fail(e),
        }
    } else {
        Bytes::new()
    };
    match route {
        Route::StatusPage => html(pages::status_page(ctx, &query).await),
        Route::CheckPage(p) => html(pages::check_page(ctx, &p).await),
        route => match json::handle(ctx, route, &query, &body).await {
            Ok(bytes) => answer(StatusCode::OK, "application/json", bytes),
            Err(e) => json_error(&e),
        },
    }
}

/// Refuses what a web page elsewhere could make a browser send: a `POST` from
/// another origin (CSRF), or, on a loopback listener, a `Host` that is not loopback
/// (DNS rebinding). Clients that are not browsers send neither.
fn guard(ctx: &Ctx, req: &Request<Incoming>) -> Result<(), ApiError> {
    let forbidden = |m: String| ApiError { status: 403, message: m };
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    if ctx.loopback
        && let Some(host) = host
        && !is_loopback_host(host)
    {
        return Err(forbidden(format!("this daemon answers to loopback names only, not to `{host}`")));
    }
    if req.method() == Method::POST
        && let Some(origin) = req.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        if Some(authority) != host {
            return Err(forbidden(format!("requests from `{origin}` are not accepted")));
        }
    }
    Ok(())
}

/// `localhost` or an address (`127.0.0.1:8080`, `[::1]:8080`), with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    let too_large = || ApiError { status: 413, message: format!("the request body is over {MAX_BODY} bytes") };
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(format!("cannot read the request body: {e}"))),
    }
}

fn html(page: Result<String, ApiError>) -> Answer {
    match page {
        Ok(text) => answer(StatusCode::OK, "text/html; charset=utf-8", text.into_bytes()),
        Err(e) => html_error(&e),
    }
}

fn html_error(e: &ApiError) -> Answer {
    let status = status_code(e.status);
    answer(status, "text/html; charset=utf-8", pages::error_page(status.as_u16(), &e.message).into_bytes())
}

fn json_error(e: &ApiError) -> Answer {
    let status = status_code(e.status);
    let body = serde_json::json!({ "error": e.message, "status": status.as_u16() });
    answer(status, "application/json", body.to_string().into_bytes())
}

/// An `ApiError`'s status, or 500 when it is not an HTTP error status.
fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn answer(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages carry their own style and inline SVG, nothing else; nobody frames them.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        let table = [
            ("localhost", true),
            ("LocalHost:8080", true),
            ("127.0.0.1:8080", true),
            ("127.1.2.3", true),
            ("[::1]:8080", true),
            ("[::1]", true),
            ("evil.example:8080", false),
            ("10.0.0.1:8080", false),
            ("localhost.evil.example", false),
            ("", false),
        ];
        for (host, want) in table {
            assert_eq!(is_loopback_host(host), want, "{host}");
        }
    }

    #[test]
    fn error_statuses() {
        assert_eq!(status_code(404), StatusCode::NOT_FOUND);
        assert_eq!(status_code(503), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_code(200), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_code(42), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
