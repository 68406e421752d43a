//! Fuzz target: arbitrary documents through load, inheritance, validation and
//! `config show`; nothing may panic, whatever the XML says.
#![no_main]

use bergamot_config::load::load_documents;
use bergamot_config::raw::Kind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Two documents, so cross-file merging of one site is exercised as well.
    let (a, b) = text.split_at(text.char_indices().map(|(i, _)| i).nth(text.chars().count() / 2).unwrap_or(0));
    let loaded = load_documents([("a.xml", a), ("b.xml", b)]);
    let outcome = bergamot_config::build(loaded, jiff::tz::TimeZone::UTC);
    let _ = outcome.diags.render(&outcome.model.sources);
    for site in &outcome.model.sites {
        for kind in Kind::ALL {
            for r in site.table(kind).iter().take(4) {
                let _ = bergamot_config::show::describe(&outcome.model, site, kind, &r.name);
            }
        }
        let t = jiff::Timestamp::from_second(1_700_000_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        for p in 0..site.calendar.len().min(4) {
            let _ = site.calendar.is_active(p, t);
            let _ = site.calendar.next_change(p, t);
        }
    }
});
