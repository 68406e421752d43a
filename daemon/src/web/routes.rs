//! Which handler a request goes to: method and path → [`Route`], percent-decoding of
//! check paths, and query strings. Pure; no HTTP types beyond the method's name.

use crate::api::ApiError;

/// Every page and API endpoint. Check paths are decoded (`site/host/web1/service/load`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    StatusPage,
    CheckPage(String),
    Sites,
    Checks,
    Problems,
    Check(String),
    History(String),
    Readings(String),
    Comments(String),
    Recheck(String),
    Alerts,
    Downtimes,
    Health,
    LastReload,
    Reload,
    Actions,
}

/// Why no route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    NotFound,
    /// The path exists for these methods only (the `Allow` header).
    Method(&'static str),
    BadPath(String),
}

impl Route {
    /// `method` is the request's (`HEAD` is answered as `GET`).
    pub fn parse(method: &str, path: &str) -> Result<Route, Miss> {
        let get = matches!(method, "GET" | "HEAD");
        let post = method == "POST";
        let only_get = |r: Route| if get { Ok(r) } else { Err(Miss::Method("GET, HEAD")) };
        let only_post = |r: Route| if post { Ok(r) } else { Err(Miss::Method("POST")) };
        // One trailing slash is forgiven (`/api/sites/`).
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => path,
        };
        match path {
            "/" => return only_get(Route::StatusPage),
            "/api/sites" => return only_get(Route::Sites),
            "/api/checks" => return only_get(Route::Checks),
            "/api/problems" => return only_get(Route::Problems),
            "/api/alerts" => return only_get(Route::Alerts),
            "/api/downtimes" => return only_get(Route::Downtimes),
            "/api/health" => return only_get(Route::Health),
            "/api/actions" => return only_post(Route::Actions),
            "/api/reload" if get => return Ok(Route::LastReload),
            "/api/reload" if post => return Ok(Route::Reload),
            "/api/reload" => return Err(Miss::Method("GET, HEAD, POST")),
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("/check/") {
            return only_get(Route::CheckPage(decode_path(rest)?));
        }
        let Some(rest) = path.strip_prefix("/api/check/") else {
            return Err(Miss::NotFound);
        };
        // A check path has an odd number of segments (`site/kind/name[/kind/name]`),
        // so a trailing `history` on an even count is the sub-resource, never a host
        // that happens to be named `history`.
        let sub = rest.rsplit_once('/').filter(|_| rest.split('/').count() % 2 == 0);
        if let Some((check, sub)) = sub {
            let check = decode_path(check)?;
            return match sub {
                "history" => only_get(Route::History(check)),
                "readings" => only_get(Route::Readings(check)),
                "comments" => only_get(Route::Comments(check)),
                "recheck" => only_post(Route::Recheck(check)),
                _ => Err(Miss::NotFound),
            };
        }
        only_get(Route::Check(decode_path(rest)?))
    }

    /// Whether errors are answered in JSON (the API) or HTML (pages).
    pub fn is_api_path(path: &str) -> bool {
        path == "/api" || path.starts_with("/api/")
    }
}

/// Decodes each `/`-separated segment of a check path.
pub fn decode_path(raw: &str) -> Result<String, Miss> {
    let mut out = String::with_capacity(raw.len());
    for (i, seg) in raw.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(&decode(seg, false).ok_or_else(|| Miss::BadPath(format!("bad percent-encoding in `{raw}`")))?);
    }
    Ok(out)
}

/// Percent-decoding (and `+` as space in query strings); `None` when the escapes are
/// broken or the bytes are not UTF-8.
fn decode(s: &str, plus_is_space: bool) -> Option<String> {
    if !s.contains(['%', '+']) {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Appends `path` to `out` as a URL path: each segment percent-encoded, `/` kept.
pub fn encode_path_into(out: &mut String, path: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// A decoded query string.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let bad = || ApiError::bad_request(format!("bad percent-encoding in the query `{part}`"));
            pairs.push((decode(k, true).ok_or_else(bad)?, decode(v, true).ok_or_else(bad)?));
        }
        Ok(Query { pairs })
    }

    /// The first value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// `1`, `true`, `yes` or `0`, `false`, `no`; absent is false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None | Some("0" | "false" | "no") => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!("`{name}` is a flag (1 or 0), not `{other}`"))),
        }
    }

    pub fn count(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.get(name)
            .map(|v| v.parse().map_err(|_| ApiError::bad_request(format!("`{name}` is a count, not `{v}`"))))
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|e| ApiError::bad_request(format!("`{name}` is an RFC 3339 instant, not `{v}`: {e}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let p = |s: &str| "s/host/web1/service/load".replace("load", s);
        let table: &[(&str, &str, Result<Route, Miss>)] = &[
            ("GET", "/", Ok(Route::StatusPage)),
            ("HEAD", "/", Ok(Route::StatusPage)),
            ("POST", "/", Err(Miss::Method("GET, HEAD"))),
            ("GET", "/api/sites/", Ok(Route::Sites)),
            ("GET", "/api/checks", Ok(Route::Checks)),
            ("GET", "/api/problems", Ok(Route::Problems)),
            ("GET", "/api/alerts", Ok(Route::Alerts)),
            ("GET", "/api/downtimes", Ok(Route::Downtimes)),
            ("GET", "/api/health", Ok(Route::Health)),
            ("GET", "/api/reload", Ok(Route::LastReload)),
            ("POST", "/api/reload", Ok(Route::Reload)),
            ("PUT", "/api/reload", Err(Miss::Method("GET, HEAD, POST"))),
            ("POST", "/api/actions", Ok(Route::Actions)),
            ("GET", "/api/actions", Err(Miss::Method("POST"))),
            ("GET", "/api/check/s/host/web1/service/load", Ok(Route::Check(p("load")))),
            ("GET", "/api/check/s/host/web1", Ok(Route::Check("s/host/web1".into()))),
            ("GET", "/api/check/s/host/history", Ok(Route::Check("s/host/history".into()))),
            ("GET", "/api/check/s/host/history/history", Ok(Route::History("s/host/history".into()))),
            ("GET", "/api/check/s/host/web1/service/load/history", Ok(Route::History(p("load")))),
            ("GET", "/api/check/s/host/web1/service/load/readings", Ok(Route::Readings(p("load")))),
            ("GET", "/api/check/s/host/web1/service/load/comments", Ok(Route::Comments(p("load")))),
            ("POST", "/api/check/s/host/web1/service/load/recheck", Ok(Route::Recheck(p("load")))),
            ("GET", "/api/check/s/host/web1/service/load/recheck", Err(Miss::Method("POST"))),
            ("GET", "/api/check/s/host/web1/service/load/bogus", Err(Miss::NotFound)),
            ("GET", "/api/check/s/host/web%201", Ok(Route::Check("s/host/web 1".into()))),
            ("GET", "/check/s/host/a%2Bb+c", Ok(Route::CheckPage("s/host/a+b+c".into()))),
            ("GET", "/check/s/host/%zz", Err(Miss::BadPath("bad percent-encoding in `s/host/%zz`".into()))),
            ("GET", "/api/nothing", Err(Miss::NotFound)),
            ("GET", "/favicon.ico", Err(Miss::NotFound)),
        ];
        for (method, path, want) in table {
            assert_eq!(&Route::parse(method, path), want, "{method} {path}");
        }
    }

    #[test]
    fn path_encoding_round_trips() {
        for path in ["s/host/web1/service/load", "s/host/a b/service/c&d<e>", "s/host/ünï/service/100%"] {
            let mut enc = String::new();
            encode_path_into(&mut enc, path);
            assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)), "{enc}");
            assert_eq!(decode_path(&enc).as_deref(), Ok(path));
        }
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some("site=a+b&problems=1&limit=20&empty=&x=%41&open=maybe")).unwrap();
        assert_eq!(q.get("site"), Some("a b"));
        assert_eq!(q.get("x"), Some("A"));
        assert_eq!(q.get("empty"), None);
        assert_eq!(q.flag("problems"), Ok(true));
        assert_eq!(q.flag("absent"), Ok(false));
        assert_eq!(q.flag("open").unwrap_err().status, 400);
        assert_eq!(q.count("limit"), Ok(Some(20)));
        assert_eq!(q.count("site").unwrap_err().status, 400);
        assert!(Query::parse(Some("a=%4")).is_err());
        let t = Query::parse(Some("from=2024-05-01T10:00:00Z&to=yesterday")).unwrap();
        assert_eq!(t.time("from").unwrap().map(|t| t.as_second()), Some(1_714_557_600));
        assert_eq!(t.time("to").unwrap_err().status, 400);
    }
}
