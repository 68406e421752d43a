//! What the daemon's HTTP layer decodes from a request itself (hyper parses the
//! HTTP): the route from method and path (percent-decoded check paths), the query
//! string and its typed values, and an action's JSON body. None of it may panic.
#![no_main]

use bergamot_daemon::api::Action;
use bergamot_daemon::web::routes::{Query, Route, decode_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // method \n path?query \n body
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let _ = Route::parse(method, path);
    let _ = Route::is_api_path(path);
    let _ = decode_path(path);
    if let Ok(q) = Query::parse(query) {
        for name in ["limit", "from", "to", "open", "all", "problems", "site", "kind"] {
            let _ = q.get(name);
            let _ = q.flag(name);
            let _ = q.count(name);
            let _ = q.time(name);
        }
    }
    let _ = serde_json::from_str::<Action>(body);
});
