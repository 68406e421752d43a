//! Fuzz target for the TCP check's certificate reader (a hand-written DER walk over
//! untrusted bytes): never panics; what parses has a validity that formats.
#![no_main]

use bergamot_netprobes::session::tcp::{format_unix, parse_certificate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_certificate(data) {
        let _ = format_unix(c.not_before);
        let _ = format_unix(c.not_after);
        let _ = c.subject_cn.map(|s| s.len());
    }
});
