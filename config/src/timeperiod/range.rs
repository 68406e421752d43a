//! One `<time-range>` (SEMANTICS §5) as data: which days, which minutes, its
//! canonical text, and whether a local civil minute falls inside it. Parsing is in
//! `parse`; time zones and periods are in `calendar`.

use std::fmt;

use jiff::civil::{Date, Weekday};

/// Minutes in a civil day; `24:00` is this value and only ever ends a span.
pub const MINUTES_PER_DAY: u16 = 1440;

/// Which local days a range applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaySelector {
    /// `09:00-17:30`: every day.
    Every,
    /// `monday 09:00-17:30`.
    Weekday(Weekday),
    /// `day N`: the N-th day of every month; negative counts from the end (-1 = last).
    /// Always in `1..=31` or `-31..=-1`.
    DayOfMonth(i8),
    /// `december 25`, `february -1`. `day` is within what the month can hold
    /// (february 29 is accepted; it matches in leap years only).
    MonthDay { month: i8, day: i8 },
    /// `monday 1 may`, `monday -1 may`: the N-th such weekday of the month
    /// (**Decision** in SEMANTICS §5: the weekday is honoured). `nth` in `1..=5` or `-5..=-1`.
    NthWeekday { weekday: Weekday, nth: i8, month: i8 },
    /// `2014-04-20`: one civil date.
    Date(Date),
}

/// A span of minutes of a day, `start` inclusive, `end` exclusive,
/// `start < end <= MINUTES_PER_DAY` (the parser guarantees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    start: u16,
    end: u16,
}

impl Span {
    /// `None` unless `start < end <= 24:00`.
    pub fn new(start: u16, end: u16) -> Option<Span> {
        (start < end && end <= MINUTES_PER_DAY).then_some(Span { start, end })
    }

    pub fn start(self) -> u16 {
        self.start
    }

    pub fn end(self) -> u16 {
        self.end
    }

    pub fn contains(self, minute_of_day: u16) -> bool {
        self.start <= minute_of_day && minute_of_day < self.end
    }
}

/// A parsed `<time-range>`: a day selector and the spans of those days it covers.
/// Always has at least one span.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeRange {
    selector: DaySelector,
    spans: Vec<Span>,
}

impl TimeRange {
    /// `None` if `spans` is empty (the grammar requires at least one).
    pub fn new(selector: DaySelector, spans: Vec<Span>) -> Option<TimeRange> {
        (!spans.is_empty()).then_some(TimeRange { selector, spans })
    }

    pub fn selector(&self) -> DaySelector {
        self.selector
    }

    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Whether local civil `date` at `minute_of_day` (0..1440) is inside this range.
    pub fn matches(&self, date: Date, minute_of_day: u16) -> bool {
        // The span test is the cheaper one, so it goes first.
        self.spans.iter().any(|s| s.contains(minute_of_day)) && self.selector.matches(date)
    }
}

impl DaySelector {
    /// Whether this selector picks `date`.
    pub fn matches(self, date: Date) -> bool {
        match self {
            DaySelector::Every => true,
            DaySelector::Weekday(w) => date.weekday() == w,
            DaySelector::DayOfMonth(n) => resolve_day(n, date.days_in_month()) == Some(date.day()),
            DaySelector::MonthDay { month, day } => {
                date.month() == month && resolve_day(day, date.days_in_month()) == Some(date.day())
            }
            DaySelector::NthWeekday { weekday, nth, month } => {
                date.month() == month && date.weekday() == weekday && nth_of(date.day(), date.days_in_month(), nth)
            }
            DaySelector::Date(d) => date == d,
        }
    }

    /// The first date on or after `from` that this selector picks, searching a
    /// bounded number of years (`None` if there is none: a past `Date`, or the
    /// end of jiff's calendar).
    pub fn next_match(self, from: Date) -> Option<Date> {
        match self {
            DaySelector::Every => Some(from),
            DaySelector::Weekday(w) => {
                let ahead = (w.to_monday_zero_offset() - from.weekday().to_monday_zero_offset()).rem_euclid(7);
                add_days(from, ahead)
            }
            DaySelector::Date(d) => (d >= from).then_some(d),
            // At most one day per month. `day N` exists within two months; a
            // `MONTH N` or `WEEKDAY N MONTH` can be absent for years (february 29
            // for 8, a fifth friday of february for 28), so walk only that month.
            DaySelector::DayOfMonth(_) => self.first_on_or_after(from, 12, 1),
            DaySelector::MonthDay { .. } | DaySelector::NthWeekday { .. } => self.first_on_or_after(from, 40, 12),
        }
    }

    /// Walks `count` months, `step` months apart, from `from`'s month (moved to
    /// the selector's month for yearly selectors) and returns the first picked
    /// day on or after `from`.
    fn first_on_or_after(self, from: Date, count: u32, step: i8) -> Option<Date> {
        let (mut year, mut month) = (from.year(), from.month());
        if step == 12 {
            if let DaySelector::MonthDay { month: m, .. } | DaySelector::NthWeekday { month: m, .. } = self {
                if m < month {
                    year = year.checked_add(1)?;
                }
                month = m;
            }
        }
        for _ in 0..count {
            if year > 9999 {
                return None;
            }
            if let Some(day) = self.day_in_month(year, month) {
                let date = Date::new(year, month, day).ok()?;
                if date >= from {
                    return Some(date);
                }
            }
            month += step;
            if month > 12 {
                month -= 12;
                year += 1;
            }
        }
        None
    }

    /// For selectors that pick at most one day per month: which day of
    /// `year`-`month`, if any. `Every` and `Weekday` answer `None`.
    fn day_in_month(self, year: i16, month: i8) -> Option<i8> {
        let dim = days_in_month(year, month);
        match self {
            DaySelector::DayOfMonth(n) => resolve_day(n, dim),
            DaySelector::MonthDay { month: m, day } if m == month => resolve_day(day, dim),
            DaySelector::NthWeekday { weekday, nth, month: m } if m == month => {
                let first = Date::new(year, month, 1).ok()?.weekday();
                let to_first_match = (weekday.to_monday_zero_offset() - first.to_monday_zero_offset()).rem_euclid(7);
                // Days of the month that are this weekday: 1 + to_first_match + 7k.
                let day = if nth > 0 {
                    1 + to_first_match + 7 * (nth - 1)
                } else {
                    let last_match = dim - (dim - 1 - to_first_match).rem_euclid(7);
                    last_match + 7 * (nth + 1)
                };
                (1..=dim).contains(&day).then_some(day)
            }
            DaySelector::Date(d) if d.year() == year && d.month() == month => Some(d.day()),
            _ => None,
        }
    }
}

/// Day `n` of a month of `dim` days, negative counting from the end.
fn resolve_day(n: i8, dim: i8) -> Option<i8> {
    let day = if n > 0 { n } else { dim + 1 + n };
    (1..=dim).contains(&day).then_some(day)
}

/// Whether `day` (of a month of `dim` days) is the `nth` occurrence of its weekday.
fn nth_of(day: i8, dim: i8, nth: i8) -> bool {
    if nth > 0 { (day - 1) / 7 + 1 == nth } else { (dim - day) / 7 + 1 == -nth }
}

fn is_leap(year: i16) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub(super) fn days_in_month(year: i16, month: i8) -> i8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `from` plus `days` (0..7), staying in the month when it can: cheaper than
/// general span arithmetic, which the scheduler would pay on every call.
fn add_days(from: Date, days: i8) -> Option<Date> {
    let day = from.day() + days;
    if day <= from.days_in_month() {
        return Date::new(from.year(), from.month(), day).ok();
    }
    from.checked_add(jiff::Span::new().days(i64::from(days))).ok()
}

// ---------------------------------------------------------------------------
// Names

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("monday", Weekday::Monday),
    ("tuesday", Weekday::Tuesday),
    ("wednesday", Weekday::Wednesday),
    ("thursday", Weekday::Thursday),
    ("friday", Weekday::Friday),
    ("saturday", Weekday::Saturday),
    ("sunday", Weekday::Sunday),
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

pub(super) fn weekday_name(w: Weekday) -> &'static str {
    // to_monday_zero_offset is 0..=6 by definition, so the index is in bounds.
    WEEKDAYS[w.to_monday_zero_offset() as usize].0
}

pub(super) fn month_name(month: i8) -> &'static str {
    MONTHS.get(usize::try_from(month - 1).unwrap_or(usize::MAX)).copied().unwrap_or("?")
}

pub(super) fn weekday_from(word: &str) -> Option<Weekday> {
    WEEKDAYS.iter().find(|(name, _)| word.eq_ignore_ascii_case(name)).map(|(_, w)| *w)
}

pub(super) fn month_from(word: &str) -> Option<i8> {
    MONTHS.iter().position(|name| word.eq_ignore_ascii_case(name)).and_then(|i| i8::try_from(i + 1).ok())
}

// ---------------------------------------------------------------------------
// Canonical form: lowercase names, zero-padded times, `, ` between spans.

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

impl fmt::Display for DaySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DaySelector::Every => Ok(()),
            DaySelector::Weekday(w) => f.write_str(weekday_name(w)),
            DaySelector::DayOfMonth(n) => write!(f, "day {n}"),
            DaySelector::MonthDay { month, day } => write!(f, "{} {day}", month_name(month)),
            DaySelector::NthWeekday { weekday, nth, month } => {
                write!(f, "{} {nth} {}", weekday_name(weekday), month_name(month))
            }
            DaySelector::Date(d) => write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        }
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.selector != DaySelector::Every {
            write!(f, "{} ", self.selector)?;
        }
        for (i, span) in self.spans.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{span}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeperiod::parse_range;
    use jiff::civil::date;

    /// Checks `range` against a local date and `HH:MM`.
    fn check_matches(range: &str, on: Date, hh_mm: &str, expected: bool) {
        let parsed = parse_range(range).unwrap();
        let (h, m) = hh_mm.split_once(':').unwrap();
        let minute = h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap();
        assert_eq!(parsed.matches(on, minute), expected, "{range:?} on {on} {hh_mm}");
    }

    #[test]
    fn matching() {
        let table = [
            ("monday 09:00-17:30", date(2026, 5, 4), "09:00", true),
            ("monday 09:00-17:30", date(2026, 5, 4), "17:29", true),
            ("monday 09:00-17:30", date(2026, 5, 4), "17:30", false),
            ("monday 09:00-17:30", date(2026, 5, 4), "08:59", false),
            ("monday 09:00-17:30", date(2026, 5, 5), "10:00", false),
            ("09:00-10:00, 12:00-13:00", date(2026, 1, 1), "12:30", true),
            ("09:00-10:00, 12:00-13:00", date(2026, 1, 1), "11:00", false),
            ("00:00-24:00", date(2026, 1, 1), "23:59", true),
            ("day -1 00:00-24:00", date(2024, 2, 29), "12:00", true),
            ("day -1 00:00-24:00", date(2024, 2, 28), "12:00", false),
            ("day -1 00:00-24:00", date(2025, 2, 28), "12:00", true),
            ("day -1 00:00-24:00", date(2026, 4, 30), "12:00", true),
            ("day -1 00:00-24:00", date(2026, 5, 30), "12:00", false),
            ("day -1 00:00-24:00", date(2026, 5, 31), "12:00", true),
            ("day 31 00:00-24:00", date(2026, 4, 30), "12:00", false),
            ("day 31 00:00-24:00", date(2026, 5, 31), "12:00", true),
            ("day 2 00:00-24:00", date(2026, 7, 2), "00:00", true),
            ("february -1 00:00-24:00", date(2024, 2, 29), "00:00", true),
            ("february -1 00:00-24:00", date(2024, 2, 28), "00:00", false),
            ("february -1 00:00-24:00", date(2025, 2, 28), "00:00", true),
            ("february -1 00:00-24:00", date(2025, 3, 31), "00:00", false),
            ("february 29 00:00-24:00", date(2024, 2, 29), "00:00", true),
            ("december 25 00:00-24:00", date(2026, 12, 25), "00:00", true),
            ("december 25 00:00-24:00", date(2026, 11, 25), "00:00", false),
            ("monday 1 may 00:00-24:00", date(2026, 5, 4), "00:00", true),
            ("monday 1 may 00:00-24:00", date(2026, 5, 1), "00:00", false),
            ("monday 1 may 00:00-24:00", date(2026, 5, 11), "00:00", false),
            ("monday -1 may 00:00-24:00", date(2026, 5, 25), "00:00", true),
            ("monday -1 may 00:00-24:00", date(2026, 5, 18), "00:00", false),
            ("monday -1 may 00:00-24:00", date(2026, 5, 26), "00:00", false),
            ("monday -1 august 00:00-24:00", date(2026, 8, 31), "00:00", true),
            ("sunday 5 may 00:00-24:00", date(2026, 5, 31), "00:00", true),
            ("monday -4 may 00:00-24:00", date(2026, 5, 4), "00:00", true),
            ("monday -5 may 00:00-24:00", date(2026, 5, 4), "00:00", false),
            ("2014-04-20 00:00-24:00", date(2014, 4, 20), "00:00", true),
            ("2014-04-20 00:00-24:00", date(2015, 4, 20), "00:00", false),
        ];
        for (range, on, hh_mm, expected) in table {
            check_matches(range, on, hh_mm, expected);
        }
    }

    /// Checks `next_match` of `range`'s selector from `from`.
    fn check_next_match(range: &str, from: Date, expected: Option<Date>) {
        let selector = parse_range(range).unwrap().selector();
        assert_eq!(selector.next_match(from), expected, "{range:?} from {from}");
    }

    #[test]
    fn next_match() {
        let table = [
            ("00:00-01:00", date(2026, 5, 5), Some(date(2026, 5, 5))),
            ("monday 00:00-01:00", date(2026, 5, 4), Some(date(2026, 5, 4))),
            ("monday 00:00-01:00", date(2026, 5, 5), Some(date(2026, 5, 11))),
            ("monday 00:00-01:00", date(2026, 5, 31), Some(date(2026, 6, 1))),
            ("february 29 00:00-01:00", date(2025, 1, 1), Some(date(2028, 2, 29))),
            ("february 29 00:00-01:00", date(2096, 3, 1), Some(date(2104, 2, 29))),
            ("monday 5 may 00:00-01:00", date(2026, 1, 1), Some(date(2027, 5, 31))),
            ("monday -1 may 00:00-01:00", date(2026, 5, 26), Some(date(2027, 5, 31))),
            ("day 31 00:00-01:00", date(2026, 4, 1), Some(date(2026, 5, 31))),
            ("day 30 00:00-01:00", date(2026, 1, 31), Some(date(2026, 3, 30))),
            ("day -1 00:00-01:00", date(2026, 2, 15), Some(date(2026, 2, 28))),
            ("2014-04-20 00:00-01:00", date(2014, 1, 1), Some(date(2014, 4, 20))),
            ("2014-04-20 00:00-01:00", date(2026, 1, 1), None),
            ("december 31 00:00-01:00", date(9999, 12, 31), Some(date(9999, 12, 31))),
            ("january 1 00:00-01:00", date(9999, 1, 2), None),
        ];
        for (range, from, expected) in table {
            check_next_match(range, from, expected);
        }
    }

    /// `next_match` agrees with walking the days one by one.
    #[test]
    fn next_match_agrees_with_brute_force() {
        let ranges = [
            "sunday 00:00-01:00",
            "day 31 00:00-01:00",
            "day -31 00:00-01:00",
            "day -1 00:00-01:00",
            "february -1 00:00-01:00",
            "february -29 00:00-01:00",
            "february 29 00:00-01:00",
            "friday 5 february 00:00-01:00",
            "monday -5 may 00:00-01:00",
            "thursday -2 november 00:00-01:00",
            "2027-03-01 00:00-01:00",
        ];
        for range in ranges {
            let selector = parse_range(range).unwrap().selector();
            let mut from = date(2023, 12, 25);
            while from < date(2029, 1, 1) {
                let mut walk = from;
                let brute = loop {
                    if selector.matches(walk) {
                        break Some(walk);
                    }
                    walk = walk.tomorrow().unwrap();
                    if walk > date(2045, 1, 1) {
                        break None;
                    }
                };
                assert_eq!(selector.next_match(from), brute, "{range:?} from {from}");
                from = from.checked_add(jiff::Span::new().days(5)).unwrap();
            }
        }
    }
}
