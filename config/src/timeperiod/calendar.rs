//! Time periods (SEMANTICS §5): ranges, excludes and time zones evaluated at an
//! instant, and the next instant a period's state changes. Not parsing: see `range`.
//!
//! A period's state is a function of the local civil minute in each zone of its
//! exclusion tree. It can only change where, in some member's zone, the local time
//! crosses a range start or end or a midnight, or where that zone's offset jumps
//! (a DST transition can skip over a boundary). `next_change` enumerates exactly
//! those candidate instants, day by day, in growing windows, and evaluates the
//! period at each; it never steps minute by minute.

use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::graph::{Node, build_tree, find_cycle};
use super::range::{DaySelector, MINUTES_PER_DAY, TimeRange};

/// How far ahead `next_change` looks: ten years, plus leap days.
const HORIZON_DAYS: i64 = 10 * 366;
/// Search windows start small (most changes are within a day or two) and double
/// up to this, so long quiet stretches cost few windows.
const MAX_WINDOW_DAYS: i64 = 64;
const WEEK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// One `<time-period>` as the resolver hands it over.
#[derive(Debug, Clone)]
pub struct PeriodDef {
    pub name: String,
    pub ranges: Vec<TimeRange>,
    /// Indices into the same list of definitions. An index outside the list is
    /// ignored: the resolver reports unknown names before building a calendar.
    pub excludes: Vec<usize>,
    /// `None`: the calendar's default zone (the site's, else the appliance's).
    pub time_zone: Option<TimeZone>,
}

/// Periods that exclude each other in a loop; `path` starts and ends with the
/// same name (`a -> b -> a`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time periods exclude each other in a cycle: {}", .path.join(" -> "))]
pub struct CycleError {
    pub path: Vec<String>,
}

/// A validated set of periods (no exclusion cycles), ready to evaluate.
#[derive(Debug, Clone)]
pub struct Calendar {
    periods: Vec<Period>,
}

#[derive(Debug, Clone)]
struct Period {
    name: String,
    ranges: Vec<TimeRange>,
    tz: TimeZone,
    /// No ranges, or ranges covering every minute of every weekday: the period's
    /// own part never changes, so `next_change` need not look at its days.
    always: bool,
    /// Only every-day and weekday ranges: the own part repeats every local week.
    weekly: bool,
    /// The period and everything it excludes, transitively, each once, every
    /// period after the ones it excludes (so the root is last).
    tree: Vec<Node>,
}

impl Calendar {
    /// Checks for exclusion cycles and precomputes each period's exclusion tree.
    pub fn new(defs: Vec<PeriodDef>, default_tz: TimeZone) -> Result<Calendar, CycleError> {
        let count = defs.len();
        let excludes: Vec<Vec<usize>> = defs
            .iter()
            .map(|d| {
                let mut e: Vec<usize> = d.excludes.iter().copied().filter(|&i| i < count).collect();
                e.sort_unstable();
                e.dedup();
                e
            })
            .collect();
        find_cycle(&excludes).map_or(Ok(()), |cycle| {
            Err(CycleError { path: cycle.iter().filter_map(|&i| defs.get(i)).map(|d| d.name.clone()).collect() })
        })?;
        let periods = defs
            .into_iter()
            .enumerate()
            .map(|(i, def)| Period {
                always: covers_everything(&def.ranges),
                weekly: def.ranges.iter().all(|r| matches!(r.selector(), DaySelector::Every | DaySelector::Weekday(_))),
                tree: build_tree(i, &excludes),
                name: def.name,
                ranges: def.ranges,
                tz: def.time_zone.unwrap_or_else(|| default_tz.clone()),
            })
            .collect();
        Ok(Calendar { periods })
    }

    pub fn len(&self) -> usize {
        self.periods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.periods.is_empty()
    }

    pub fn name(&self, period: usize) -> Option<&str> {
        self.periods.get(period).map(|p| p.name.as_str())
    }

    /// The index of the period called `name`, if any.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.periods.iter().position(|p| p.name == name)
    }

    /// Whether `period` is active at `t`. An index outside the calendar is never active.
    pub fn is_active(&self, period: usize, t: Timestamp) -> bool {
        self.periods.get(period).is_some_and(|p| self.eval(&p.tree, t))
    }

    /// The first instant after `t` (strictly) at which `is_active` differs from
    /// `is_active(t)`; `None` if there is none within ten years.
    pub fn next_change(&self, period: usize, t: Timestamp) -> Option<Timestamp> {
        let tree = &self.periods.get(period)?.tree;
        let varying: Vec<&Period> =
            tree.iter().filter_map(|n| self.periods.get(n.period)).filter(|p| !p.always).collect();
        if varying.is_empty() {
            return None;
        }
        let now = self.eval(tree, t);
        let horizon = t.checked_add(SignedDuration::from_hours(24 * HORIZON_DAYS)).unwrap_or(Timestamp::MAX);
        // When every member repeats weekly, then between two offset changes (of any
        // member's zone) the whole tree repeats every week in absolute time: a week
        // without a change means none until the next offset change. This keeps a
        // period that never changes (one excluding a superset of itself) cheap.
        let weekly = varying.iter().all(|p| p.weekly);
        // Start of the current stretch without offset changes, in which the state
        // has been `now` throughout.
        let mut steady_from = t;
        let mut candidates = Vec::new();
        let (mut lo, mut window_days) = (t, 2);
        while lo < horizon {
            let hi =
                lo.checked_add(SignedDuration::from_hours(24 * window_days)).unwrap_or(Timestamp::MAX).min(horizon);
            candidates.clear();
            for p in &varying {
                collect_candidates(p, lo, hi, &mut candidates);
            }
            candidates.sort_unstable();
            candidates.dedup();
            if let Some(&at) = candidates.iter().find(|&&at| self.eval(tree, at) != now) {
                return Some(at);
            }
            lo = hi;
            window_days = (window_days * 2).min(MAX_WINDOW_DAYS);
            if weekly {
                steady_from = varying
                    .iter()
                    .flat_map(|p| p.tz.following(steady_from).map(|tr| tr.timestamp()).take_while(|&at| at <= hi))
                    .fold(steady_from, Timestamp::max);
                if hi.duration_since(steady_from) >= WEEK {
                    // Constant until the next offset change; resume just before it so
                    // that it is a candidate of the next window.
                    let next =
                        varying.iter().filter_map(|p| p.tz.following(hi).next()).map(|tr| tr.timestamp()).min()?;
                    lo = next.checked_sub(SignedDuration::from_nanos(1)).ok()?.max(hi);
                    steady_from = next;
                    window_days = 8;
                }
            }
        }
        None
    }

    /// `t` if `period` is active at `t`, else the instant it next becomes active.
    pub fn next_active(&self, period: usize, t: Timestamp) -> Option<Timestamp> {
        if self.is_active(period, t) { Some(t) } else { self.next_change(period, t) }
    }

    /// Evaluates a tree bottom-up: each node is active unless one of its excludes
    /// is, and then only if its own ranges match.
    fn eval(&self, tree: &[Node], t: Timestamp) -> bool {
        let own = |node: &Node| self.periods.get(node.period).is_some_and(|p| p.own_active(t));
        // Trees are small; a bit set avoids allocating on the scheduler's hot path.
        if tree.len() <= 64 {
            let mut active = 0u64;
            for (i, node) in tree.iter().enumerate() {
                if !node.excludes.iter().any(|&j| active >> j & 1 == 1) && own(node) {
                    active |= 1 << i;
                }
            }
            tree.len().checked_sub(1).is_some_and(|root| active >> root & 1 == 1)
        } else {
            let mut active: Vec<bool> = Vec::with_capacity(tree.len());
            for node in tree {
                let excluded = node.excludes.iter().any(|&j| active.get(j).copied().unwrap_or(false));
                active.push(!excluded && own(node));
            }
            active.last().copied().unwrap_or(false)
        }
    }
}

impl Period {
    /// Whether the period's own ranges match at `t` (excludes aside).
    fn own_active(&self, t: Timestamp) -> bool {
        if self.always {
            return true;
        }
        let local = self.tz.to_datetime(t);
        // hour is 0..=23 and minute 0..=59, so both casts are lossless.
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        self.ranges.iter().any(|r| r.matches(local.date(), minute))
    }
}

/// Whether `ranges` select every minute of every day (or there are none, which
/// SEMANTICS §5 also makes always active).
fn covers_everything(ranges: &[TimeRange]) -> bool {
    if ranges.is_empty() {
        return true;
    }
    let weekdays = (0..7).map(|i| jiff::civil::Weekday::from_monday_zero_offset(i));
    weekdays.into_iter().all(|w| {
        let Ok(w) = w else { return false };
        let mut spans: Vec<(u16, u16)> = ranges
            .iter()
            .filter(|r| matches!(r.selector(), DaySelector::Every) || r.selector() == DaySelector::Weekday(w))
            .flat_map(|r| r.spans().iter().map(|s| (s.start(), s.end())))
            .collect();
        spans.sort_unstable();
        let mut covered = 0;
        for (start, end) in spans {
            if start > covered {
                break;
            }
            covered = covered.max(end);
        }
        covered >= MINUTES_PER_DAY
    })
}

/// Pushes onto `out` every instant in `(lo, hi]` at which `p`'s own part may
/// change: its zone's transitions, and each local midnight, range start and range
/// end on days its ranges select, at every instant that local time occurs.
fn collect_candidates(p: &Period, lo: Timestamp, hi: Timestamp, out: &mut Vec<Timestamp>) {
    for transition in p.tz.following(lo) {
        let at = transition.timestamp();
        if at > hi {
            break;
        }
        if at > lo {
            out.push(at);
        }
    }
    // Local dates of (lo, hi] lie within a day of the dates of lo and hi even when
    // a fold moves local time back over a midnight.
    let first = p.tz.to_datetime(lo).date();
    let first = first.yesterday().unwrap_or(first);
    let last = p.tz.to_datetime(hi).date();
    let last = last.tomorrow().unwrap_or(last);
    let mut day = first;
    // Days no range selects contribute nothing except the midnight after a selected
    // day, which is pushed with that day; skip straight to the next selected day.
    while let Some(date) = p.ranges.iter().filter_map(|r| r.selector().next_match(day)).min() {
        if date > last {
            break;
        }
        push_local(&p.tz, date, 0, lo, hi, out);
        for range in p.ranges.iter().filter(|r| r.selector().matches(date)) {
            for span in range.spans() {
                push_local(&p.tz, date, span.start(), lo, hi, out);
                push_local(&p.tz, date, span.end(), lo, hi, out);
            }
        }
        let Ok(next) = date.tomorrow() else { break };
        push_local(&p.tz, next, 0, lo, hi, out);
        day = next;
    }
}

/// Pushes the instants in `(lo, hi]` at which `tz`'s local time is `date` at
/// `minute`: one normally, two in a fold; in a gap the two offsets give instants
/// that are harmless extras (the change itself is at the transition).
fn push_local(tz: &TimeZone, date: Date, minute: u16, lo: Timestamp, hi: Timestamp, out: &mut Vec<Timestamp>) {
    // 24:00 is the next day's midnight, which the caller pushes as that day's start.
    if minute >= MINUTES_PER_DAY {
        return;
    }
    // minute < 1440, so the hour is 0..=23 and the minute 0..=59.
    let Ok(time) = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0) else { return };
    let dt = date.to_datetime(time);
    let (a, b) = match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => (offset, None),
        AmbiguousOffset::Gap { before, after } | AmbiguousOffset::Fold { before, after } => (before, Some(after)),
    };
    for offset in std::iter::once(a).chain(b) {
        if let Ok(at) = offset.to_timestamp(dt) {
            if lo < at && at <= hi {
                out.push(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeperiod::parse_range;
    use jiff::Zoned;

    /// Builds a calendar from lines `name [@Zone] [excludes a b]: range; range`.
    fn calendar(spec: &str, default_tz: &str) -> Result<Calendar, CycleError> {
        let lines: Vec<&str> = spec.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let heads: Vec<Vec<&str>> =
            lines.iter().map(|l| l.split_once(':').unwrap().0.split_whitespace().collect()).collect();
        let index = |name: &str| heads.iter().position(|h| h[0] == name).unwrap_or_else(|| panic!("no {name}"));
        let defs = lines
            .iter()
            .zip(&heads)
            .map(|(line, head)| {
                let ranges = line.split_once(':').unwrap().1;
                let zone = head.iter().find_map(|w| w.strip_prefix('@'));
                let excludes = head.iter().skip_while(|w| **w != "excludes").skip(1);
                PeriodDef {
                    name: head[0].to_string(),
                    ranges: ranges
                        .split(';')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(|r| parse_range(r).unwrap())
                        .collect(),
                    excludes: excludes.map(|n| index(n)).collect(),
                    time_zone: zone.map(|z| TimeZone::get(z).unwrap()),
                }
            })
            .collect();
        Calendar::new(defs, TimeZone::get(default_tz).unwrap())
    }

    /// An instant: `2026-05-04T09:00Z`, or local `2026-05-04 09:00[Europe/London]`
    /// (with an offset, `2026-10-25 01:30+01:00[Europe/London]`, in a fold).
    fn at(text: &str) -> Timestamp {
        text.parse::<Timestamp>().or_else(|_| text.parse::<Zoned>().map(|z| z.timestamp())).unwrap()
    }

    const UK: &str = "
        uk-holidays: january 1 00:00-24:00; april 18 00:00-24:00; april 21 00:00-24:00;
            monday 1 may 00:00-24:00; monday -1 may 00:00-24:00; monday -1 august 00:00-24:00;
            december 25 00:00-24:00; december 26 00:00-24:00
        workhours excludes uk-holidays: monday    09:00 - 17:30; tuesday   09:00 - 17:30;
            wednesday 09:00 - 17:30; thursday  09:00 - 17:30; friday    09:00 - 17:30
        out-of-hours excludes workhours:
    ";

    fn uk() -> Calendar {
        // The guide's example spans lines; join each continuation onto its period.
        let joined = UK.replace(";\n", ";");
        calendar(&joined, "Europe/London").unwrap()
    }

    /// Checks `is_active` of period `name` at each instant.
    fn check_active(cal: &Calendar, table: &[(&str, &str, bool)]) {
        for &(name, when, expected) in table {
            let p = cal.find(name).unwrap();
            assert_eq!(cal.is_active(p, at(when)), expected, "{name} at {when}");
        }
    }

    /// Checks `next_change` of period `name` from an instant.
    fn check_next(cal: &Calendar, table: &[(&str, &str, Option<&str>)]) {
        for &(name, from, expected) in table {
            let p = cal.find(name).unwrap();
            assert_eq!(cal.next_change(p, at(from)), expected.map(at), "{name} from {from}");
        }
    }

    /// Walks `next_change` from `from` to `to` and compares every step with
    /// stepping minute by minute (exact here: all zones used have whole-minute offsets).
    fn check_walk(cal: &Calendar, name: &str, from: &str, to: &str) {
        let (p, to) = (cal.find(name).unwrap(), at(to));
        let minute = SignedDuration::from_secs(60);
        let mut t = at(from);
        while t < to {
            let state = cal.is_active(p, t);
            let mut m = Timestamp::from_second(t.as_second().div_euclid(60) * 60).unwrap() + minute;
            let brute = loop {
                if m > to {
                    break None;
                }
                if cal.is_active(p, m) != state {
                    break Some(m);
                }
                m += minute;
            };
            let got = cal.next_change(p, t);
            match brute {
                Some(b) => assert_eq!(got, Some(b), "{name} from {t}"),
                None => assert!(got.is_none_or(|g| g > to), "{name} from {t}: {got:?}"),
            }
            let Some(next) = got else { break };
            t = next;
        }
    }

    #[test]
    fn uk_workhours_and_out_of_hours() {
        let cal = uk();
        let table = [
            ("2026-05-04 10:00[Europe/London]", false), // monday 1 may: bank holiday
            ("2026-05-05 08:59[Europe/London]", false),
            ("2026-05-05 09:00[Europe/London]", true),
            ("2026-05-05 17:29[Europe/London]", true),
            ("2026-05-05 17:29:59.999[Europe/London]", true),
            ("2026-05-05 17:30[Europe/London]", false),
            ("2026-05-09 12:00[Europe/London]", false), // saturday
            ("2026-05-10 12:00[Europe/London]", false), // sunday
            ("2026-05-25 12:00[Europe/London]", false), // monday -1 may
            ("2026-05-18 12:00[Europe/London]", true),
            ("2026-08-31 12:00[Europe/London]", false), // monday -1 august
            ("2026-08-24 12:00[Europe/London]", true),
            ("2026-12-24 12:00[Europe/London]", true),
            ("2026-12-25 12:00[Europe/London]", false), // friday, christmas
            ("2026-01-01 12:00[Europe/London]", false),
            ("2026-01-02 12:00[Europe/London]", true),
            ("2026-04-21 12:00[Europe/London]", false), // april 21, a tuesday in 2026
            ("2026-07-01 08:00Z", true),                // 09:00 BST
            ("2026-01-07 08:00Z", false),               // 08:00 GMT
        ];
        for (when, work) in table {
            check_active(&cal, &[("workhours", when, work), ("out-of-hours", when, !work)]);
        }
        // Out of hours is exactly not work hours, everywhere: sweep 3 months in 7-minute steps.
        let (work, ooh) = (cal.find("workhours").unwrap(), cal.find("out-of-hours").unwrap());
        let mut t = at("2026-03-20T00:00Z");
        while t < at("2026-06-20T00:00Z") {
            assert_ne!(cal.is_active(work, t), cal.is_active(ooh, t), "{t}");
            t += SignedDuration::from_secs(7 * 60);
        }
        check_next(
            &cal,
            &[
                ("workhours", "2026-05-01 17:30[Europe/London]", Some("2026-05-05 09:00[Europe/London]")),
                ("workhours", "2026-05-05 09:00[Europe/London]", Some("2026-05-05 17:30[Europe/London]")),
                ("workhours", "2026-05-05 08:59:59.5[Europe/London]", Some("2026-05-05 09:00[Europe/London]")),
                ("workhours", "2026-12-24 18:00[Europe/London]", Some("2026-12-28 09:00[Europe/London]")),
                ("out-of-hours", "2026-05-05 10:00[Europe/London]", Some("2026-05-05 17:30[Europe/London]")),
                ("out-of-hours", "2026-05-01 18:00[Europe/London]", Some("2026-05-05 09:00[Europe/London]")),
                // Across spring-forward: friday 17:30 GMT to monday 09:00 BST.
                ("workhours", "2026-03-27T17:30Z", Some("2026-03-30T08:00Z")),
                ("uk-holidays", "2026-01-02 00:00[Europe/London]", Some("2026-04-18 00:00[Europe/London]")),
            ],
        );
        assert_eq!(cal.next_active(work, at("2026-05-05T10:00Z")), Some(at("2026-05-05T10:00Z")));
        assert_eq!(cal.next_active(work, at("2026-05-04T10:00Z")), Some(at("2026-05-05 09:00[Europe/London]")));
        assert_eq!(cal.next_active(ooh, at("2026-05-04T10:00Z")), Some(at("2026-05-04T10:00Z")));
        check_walk(&cal, "out-of-hours", "2026-03-20T00:00Z", "2026-04-10T00:00Z");
        check_walk(&cal, "workhours", "2026-10-20T00:00Z", "2026-11-01T00:00Z");
    }

    #[test]
    fn dst_europe_london() {
        let cal = calendar(
            "night: 01:30-03:00
             early: 00:00-01:30
             fold: 01:00-01:30
             hour1: 01:00-02:00",
            "Europe/London",
        )
        .unwrap();
        check_active(
            &cal,
            &[
                // 2026-03-29: 01:00 GMT becomes 02:00 BST; local 01:00-02:00 does not exist.
                ("night", "2026-03-29T00:59Z", false),
                ("night", "2026-03-29T01:00Z", true), // 02:00 BST
                ("early", "2026-03-29T00:59Z", true),
                ("early", "2026-03-29T01:00Z", false),
                ("hour1", "2026-03-29T00:59:59Z", false),
                ("hour1", "2026-03-29T01:00Z", false),
                // 2026-10-25: 02:00 BST becomes 01:00 GMT; local 01:00-02:00 happens twice.
                ("fold", "2026-10-25 01:10+01:00[Europe/London]", true),
                ("fold", "2026-10-25 01:40+01:00[Europe/London]", false),
                ("fold", "2026-10-25 01:10+00:00[Europe/London]", true),
                ("fold", "2026-10-25 01:40+00:00[Europe/London]", false),
            ],
        );
        check_next(
            &cal,
            &[
                ("night", "2026-03-29T00:00Z", Some("2026-03-29T01:00Z")),
                ("night", "2026-03-29T01:00Z", Some("2026-03-29T02:00Z")),
                ("early", "2026-03-29T00:30Z", Some("2026-03-29T01:00Z")),
                // hour1 is skipped on spring-forward day: next is 01:00 BST on the 30th.
                ("hour1", "2026-03-28T23:00Z", Some("2026-03-30T00:00Z")),
                ("fold", "2026-10-25T00:00Z", Some("2026-10-25T00:30Z")),
                ("fold", "2026-10-25T00:30Z", Some("2026-10-25T01:00Z")),
                ("fold", "2026-10-25T01:00Z", Some("2026-10-25T01:30Z")),
                // hour1 stays active through both 01:00-02:00 local hours: two hours.
                ("hour1", "2026-10-25T00:00Z", Some("2026-10-25T02:00Z")),
            ],
        );
        for name in ["night", "early", "fold", "hour1"] {
            check_walk(&cal, name, "2026-03-27T00:00Z", "2026-04-01T00:00Z");
            check_walk(&cal, name, "2026-10-23T00:00Z", "2026-10-28T00:00Z");
        }
    }

    #[test]
    fn dst_america_new_york() {
        let cal = calendar(
            "gap: 02:00-02:30
             hour1: 01:00-02:00
             sunday: sunday 00:00-24:00",
            "America/New_York",
        )
        .unwrap();
        check_active(
            &cal,
            &[
                // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00Z.
                ("gap", "2026-03-08T06:59Z", false),
                ("gap", "2026-03-08T07:00Z", false),
                ("gap", "2026-03-09T06:00Z", true),
                ("sunday", "2026-03-08T05:00Z", true),
                ("sunday", "2026-03-09T03:59Z", true), // 23:59 EDT
                ("sunday", "2026-03-09T04:00Z", false),
                // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z.
                ("hour1", "2026-11-01T05:00Z", true),
                ("hour1", "2026-11-01T06:30Z", true),
                ("hour1", "2026-11-01T07:00Z", false),
            ],
        );
        check_next(
            &cal,
            &[
                ("gap", "2026-03-08T06:00Z", Some("2026-03-09T06:00Z")),
                ("hour1", "2026-11-01T05:00Z", Some("2026-11-01T07:00Z")),
                ("hour1", "2026-10-31T12:00Z", Some("2026-11-01T05:00Z")),
                // The 23-hour sunday and the 25-hour sunday.
                ("sunday", "2026-03-08T05:00Z", Some("2026-03-09T04:00Z")),
                ("sunday", "2026-03-09T04:00Z", Some("2026-03-15T04:00Z")),
                ("sunday", "2026-11-01T04:00Z", Some("2026-11-02T05:00Z")),
            ],
        );
        for name in ["gap", "hour1", "sunday"] {
            check_walk(&cal, name, "2026-03-06T00:00Z", "2026-03-10T00:00Z");
            check_walk(&cal, name, "2026-10-30T00:00Z", "2026-11-03T00:00Z");
        }
    }

    #[test]
    fn leap_years_and_month_ends() {
        let cal = calendar(
            "feb-last: february -1 00:00-24:00
             feb-29: february 29 12:00-13:00
             month-end: day -1 23:00-24:00
             day-31: day 31 00:00-24:00",
            "UTC",
        )
        .unwrap();
        check_next(
            &cal,
            &[
                ("feb-last", "2024-01-01T00:00Z", Some("2024-02-29T00:00Z")),
                ("feb-last", "2024-02-29T00:00Z", Some("2024-03-01T00:00Z")),
                ("feb-last", "2025-01-01T00:00Z", Some("2025-02-28T00:00Z")),
                ("feb-29", "2024-03-01T00:00Z", Some("2028-02-29T12:00Z")),
                ("month-end", "2024-02-15T00:00Z", Some("2024-02-29T23:00Z")),
                ("month-end", "2026-04-30T23:30Z", Some("2026-05-01T00:00Z")),
                ("month-end", "2026-05-01T00:00Z", Some("2026-05-31T23:00Z")),
                ("day-31", "2026-04-01T00:00Z", Some("2026-05-31T00:00Z")),
                ("day-31", "2026-05-31T00:00Z", Some("2026-06-01T00:00Z")),
                ("day-31", "2026-06-01T00:00Z", Some("2026-07-31T00:00Z")),
            ],
        );
        check_walk(&cal, "month-end", "2024-01-25T00:00Z", "2024-03-05T00:00Z");
    }

    #[test]
    fn constant_and_never_matching_periods() {
        let cal = calendar(
            "24x7: 00:00-24:00
             weekdays-and-weekends: 00:00-24:00; saturday 00:00-24:00
             empty:
             never excludes 24x7:
             easter-2014: 2014-04-20 00:00-24:00
             almost: 00:00-23:59",
            "Europe/London",
        );
        let cal = cal.unwrap_or_else(|e| panic!("{e}"));
        let t = at("2026-03-29T00:30Z");
        for (name, active, next) in [
            ("24x7", true, None),
            ("weekdays-and-weekends", true, None),
            ("empty", true, None),
            ("never", false, None),
            ("easter-2014", false, None),
            ("almost", true, Some("2026-03-29T22:59Z")),
        ] {
            let p = cal.find(name).unwrap();
            assert_eq!(cal.is_active(p, t), active, "{name}");
            assert_eq!(cal.next_change(p, t), next.map(at), "{name}");
        }
        let p = cal.find("easter-2014").unwrap();
        assert_eq!(cal.next_change(p, at("2014-01-01T00:00Z")), Some(at("2014-04-19T23:00Z"))); // 00:00 BST
        assert_eq!(cal.next_active(cal.find("never").unwrap(), t), None);
        assert!(!cal.is_active(99, t));
        assert_eq!(cal.next_change(99, t), None);
    }

    #[test]
    fn full_week_of_weekday_ranges_is_constant() {
        let cal = calendar(
            "all-days: monday 00:00-24:00; tuesday 00:00-24:00; wednesday 00:00-12:00; wednesday 11:00-24:00; thursday 00:00-24:00; friday 00:00-24:00; saturday 00:00-24:00; sunday 00:00-24:00",
            "UTC",
        )
        .unwrap();
        assert!(cal.periods[0].always);
        assert_eq!(cal.next_change(0, at("2026-01-01T00:00Z")), None);
    }

    #[test]
    fn weekly_periods_skip_to_offset_changes() {
        // London 09:00-10:00 is New York 04:00-05:00 except in the weeks when only
        // one of the two zones is on summer time.
        let cal = calendar(
            "london-nine @Europe/London excludes ny-four: 09:00-10:00
             ny-four: 04:00-05:00
             self-cancel excludes wider: 09:00-17:00
             wider: 08:00-18:00",
            "America/New_York",
        )
        .unwrap();
        check_active(
            &cal,
            &[
                ("london-nine", "2026-01-10T09:30Z", false),
                ("london-nine", "2026-03-08T09:30Z", true),
                ("london-nine", "2026-03-28T09:30Z", true),
                ("london-nine", "2026-03-29T08:30Z", false),
                ("london-nine", "2026-10-25T09:30Z", true),
            ],
        );
        check_next(
            &cal,
            &[
                ("london-nine", "2026-01-10T12:00Z", Some("2026-03-08T09:00Z")),
                ("london-nine", "2026-03-28T10:00Z", Some("2026-10-25T09:00Z")),
                ("london-nine", "2026-10-31T10:00Z", Some("2027-03-14T09:00Z")),
                ("self-cancel", "2026-01-10T12:00Z", None),
            ],
        );
        check_walk(&cal, "london-nine", "2026-03-01T00:00Z", "2026-04-05T00:00Z");
    }

    #[test]
    fn nested_excludes() {
        let cal = calendar(
            "a excludes b:
             b excludes c: 09:00-17:00
             c: 12:00-13:00
             d excludes e f: 08:00-20:00
             e excludes f: 10:00-11:00
             f: 10:30-10:45",
            "UTC",
        )
        .unwrap();
        check_active(
            &cal,
            &[
                ("a", "2026-01-01T08:00Z", true),
                ("a", "2026-01-01T10:00Z", false),
                ("a", "2026-01-01T12:30Z", true),
                ("a", "2026-01-01T18:00Z", true),
                ("d", "2026-01-01T09:00Z", true),
                ("d", "2026-01-01T10:10Z", false), // e active
                ("d", "2026-01-01T10:35Z", false), // f active (so e is not)
                ("d", "2026-01-01T10:50Z", false), // e active again
                ("d", "2026-01-01T11:00Z", true),
            ],
        );
        check_next(
            &cal,
            &[
                ("a", "2026-01-01T08:00Z", Some("2026-01-01T09:00Z")),
                ("a", "2026-01-01T10:00Z", Some("2026-01-01T12:00Z")),
                ("a", "2026-01-01T12:00Z", Some("2026-01-01T13:00Z")),
                ("a", "2026-01-01T13:00Z", Some("2026-01-01T17:00Z")),
                ("d", "2026-01-01T10:00Z", Some("2026-01-01T11:00Z")),
            ],
        );
        check_walk(&cal, "d", "2026-01-01T00:00Z", "2026-01-03T00:00Z");
    }

    #[test]
    fn per_period_time_zones() {
        let cal = calendar(
            "tokyo @Asia/Tokyo: monday 09:00-17:00
             not-tokyo excludes tokyo:
             london-lunch @Europe/London: 12:00-13:00
             ny-work excludes london-lunch: 07:00-12:00",
            "America/New_York",
        )
        .unwrap();
        check_active(
            &cal,
            &[
                ("tokyo", "2026-01-04T23:59Z", false),
                ("tokyo", "2026-01-05T00:00Z", true), // monday 09:00 JST
                ("not-tokyo", "2026-01-05T00:00Z", false),
                ("not-tokyo", "2026-01-05T08:00Z", true), // 17:00 JST
                // 12:00 GMT is 07:00 EST: the excluded period is evaluated in its own zone.
                ("ny-work", "2026-01-05T12:30Z", false),
                ("ny-work", "2026-01-05T13:00Z", true),
            ],
        );
        check_next(
            &cal,
            &[
                ("not-tokyo", "2026-01-04T12:00Z", Some("2026-01-05T00:00Z")),
                ("ny-work", "2026-01-05T11:00Z", Some("2026-01-05T13:00Z")),
                ("ny-work", "2026-01-05T13:00Z", Some("2026-01-05T17:00Z")),
                // 2026-03-09 to 03-28 London is GMT but New York is already EDT: 12:00 GMT = 08:00 EDT.
                ("ny-work", "2026-03-10T10:00Z", Some("2026-03-10T11:00Z")),
                ("ny-work", "2026-03-10T11:00Z", Some("2026-03-10T12:00Z")),
                ("ny-work", "2026-03-10T12:00Z", Some("2026-03-10T13:00Z")),
                ("ny-work", "2026-03-10T13:00Z", Some("2026-03-10T16:00Z")),
            ],
        );
        check_walk(&cal, "ny-work", "2026-03-06T00:00Z", "2026-03-31T00:00Z");
    }

    #[test]
    fn cycles() {
        let table: [(&str, Option<&str>); 5] = [
            ("a excludes b:\n b excludes a:", Some("a -> b -> a")),
            ("a excludes a:", Some("a -> a")),
            ("x:\n a excludes b:\n b excludes c:\n c excludes b:", Some("b -> c -> b")),
            ("a excludes b c:\n b excludes c:\n c:", None),
            ("a excludes b:\n b excludes c:\n c excludes d:\n d excludes a:", Some("a -> b -> c -> d -> a")),
        ];
        for (spec, expected) in table {
            let got = calendar(spec, "UTC").err().map(|e| e.path.join(" -> "));
            assert_eq!(got.as_deref(), expected, "{spec:?}");
        }
        let err = calendar("a excludes b:\n b excludes a:", "UTC").unwrap_err();
        assert_eq!(err.to_string(), "time periods exclude each other in a cycle: a -> b -> a");
        // An index outside the list is ignored rather than a crash.
        let defs = vec![PeriodDef { name: "a".into(), ranges: vec![], excludes: vec![7], time_zone: None }];
        let cal = Calendar::new(defs, TimeZone::UTC).unwrap();
        assert!(cal.is_active(0, at("2026-01-01T00:00Z")));
    }
}
