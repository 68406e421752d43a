//! Fuzz target for `<time-range>` text: parsing never panics, errors point at a char
//! boundary inside the text, the canonical form re-parses to the same range, and
//! matching, next-match and a one-period calendar's next change stay consistent.
#![no_main]

use bergamot_config::timeperiod::{Calendar, PeriodDef, parse_range};
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;

/// Leap days, month ends, DST days and the ends of jiff's calendar.
const DATES: [(i16, i8, i8); 8] = [
    (2024, 2, 29),
    (2025, 2, 28),
    (2026, 3, 29),
    (2026, 5, 25),
    (2026, 12, 31),
    (0, 1, 1),
    (9999, 12, 31),
    (2014, 4, 20),
];
const MINUTES: [u16; 5] = [0, 539, 540, 1050, 1439];

fuzz_target!(|text: &str| {
    let range = match parse_range(text) {
        Ok(range) => range,
        Err(e) => {
            assert!(e.offset <= text.len() && text.is_char_boundary(e.offset), "{e:?} in {text:?}");
            let _ = e.to_string();
            return;
        }
    };
    let canonical = range.to_string();
    let again = parse_range(&canonical).unwrap_or_else(|e| panic!("{canonical:?} from {text:?}: {e}"));
    assert_eq!(again, range, "{canonical:?} from {text:?}");
    assert_eq!(again.to_string(), canonical);

    for (y, m, d) in DATES {
        let on: Date = date(y, m, d);
        for minute in MINUTES {
            let hit = range.matches(on, minute);
            let expected = range.selector().matches(on) && range.spans().iter().any(|s| s.contains(minute));
            assert_eq!(hit, expected, "{canonical} on {on} at {minute}");
        }
        if let Some(next) = range.selector().next_match(on) {
            assert!(next >= on && range.selector().matches(next), "{canonical} from {on}: {next}");
        }
    }

    let def = PeriodDef { name: "p".into(), ranges: vec![range], excludes: vec![], time_zone: None };
    let Ok(tz) = TimeZone::get("Europe/London") else { return };
    let Ok(calendar) = Calendar::new(vec![def], tz) else { panic!("one period cannot form a cycle") };
    for t in ["2026-03-28T23:30:00Z", "2026-10-24T12:00:00Z", "2024-02-28T00:00:00Z"] {
        let Ok(t) = t.parse::<Timestamp>() else { return };
        let now = calendar.is_active(0, t);
        if let Some(change) = calendar.next_change(0, t) {
            assert!(change > t, "{canonical}: {change} after {t}");
            assert_ne!(calendar.is_active(0, change), now, "{canonical}: {change} from {t}");
            // Constant in between: spot-check the middle and the last nanosecond.
            let half = SignedDuration::from_nanos_i128(change.duration_since(t).as_nanos() / 2);
            let middle = t.checked_add(half).unwrap_or(t);
            assert_eq!(calendar.is_active(0, middle), now, "{canonical}: {middle} before {change}");
            let last = change.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(t);
            assert_eq!(calendar.is_active(0, last), now, "{canonical}: {last} before {change}");
        }
    }
});
