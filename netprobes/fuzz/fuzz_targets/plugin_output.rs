#![no_main]
//! Fuzz target: plugin output, perfdata, threshold ranges, command-line splitting and
//! native command-line recognition never panic on any input, and what they accept
//! prints back to text that parses to the same value.

use bergamot_netprobes::native::{native_request, parse_command_line};
use bergamot_netprobes::wire::plugin::{MAX_KEPT_ERRORS, PerfData, PluginOutput, Range, split_command_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = PluginOutput::parse(data);
    assert!(out.perfdata_errors.len() <= MAX_KEPT_ERRORS);
    assert!(out.perfdata_skipped >= out.perfdata_errors.len());
    for item in &out.perfdata {
        let printed = item.to_string();
        assert_eq!(PerfData::parse(&printed).as_ref(), Ok(item), "{printed}");
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(item) = PerfData::parse(text) {
        assert_eq!(PerfData::parse(&item.to_string()), Ok(item));
    }
    if let Ok(range) = Range::parse(text) {
        assert_eq!(Range::parse(&range.to_string()), Ok(range));
    }
    if let Ok(words) = split_command_line(text) {
        let _ = native_request(&words);
    }
    let _ = parse_command_line(text);
});
