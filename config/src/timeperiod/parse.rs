//! The `<time-range>` grammar of SEMANTICS §5: text to [`TimeRange`], with errors
//! that say where (byte offset), what was expected and what was found.
//!
//! Never panics on any input (fuzzed by `config/fuzz`): it only walks ASCII bytes,
//! so every offset it reports is on a `char` boundary of the input.

use jiff::civil::{Date, Weekday};

use super::range::{DaySelector, Span, TimeRange, days_in_month, month_from, month_name, weekday_from};

impl std::str::FromStr for TimeRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<TimeRange, RangeError> {
        parse_range(text)
    }
}

// ---------------------------------------------------------------------------
// Errors

/// What kind of mistake a [`RangeError`] is, for callers that react to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeErrorKind {
    /// Not the grammar: an unknown word, a missing number, `:` or `-`.
    Syntax,
    /// A complete range followed by more text.
    Trailing,
    /// An hour over 24, or 24 with minutes.
    HourOutOfRange,
    /// Minutes over 59.
    MinuteOutOfRange,
    /// A span whose start is not before its end (across midnight or empty).
    EmptySpan,
    /// A day or N-th count that no month has (`day 0`, `day 32`, `monday 6 may`).
    DayOutOfRange,
    /// A `YYYY-M-D` that is not a date (`2014-02-30`, month 13).
    InvalidDate,
}

/// Why a time range did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct RangeError {
    /// Byte offset into the parsed text where the problem starts (always on a
    /// `char` boundary, `text.len()` when the text ended too soon).
    pub offset: usize,
    pub kind: RangeErrorKind,
    /// What was expected and what was found.
    pub message: String,
}

// ---------------------------------------------------------------------------
// Parser: recursive descent over bytes, whitespace allowed between tokens.
// Tokens: words (ASCII letters), numbers, `HH:MM`, `YYYY-M-D`, `-` and `,`.

/// Parses one time range (SEMANTICS §5). Keywords are case-insensitive.
pub fn parse_range(text: &str) -> Result<TimeRange, RangeError> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    let selector = p.selector()?;
    let spans = p.spans()?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error(RangeErrorKind::Trailing, "`,` and another span, or the end of the range"));
    }
    // `spans` always returns at least one span or an error.
    TimeRange::new(selector, spans).ok_or_else(|| p.error(RangeErrorKind::Syntax, "a time HH:MM"))
}

struct Parser<'a> {
    text: &'a str,
    /// Only ever advanced over ASCII bytes, so it stays on a char boundary.
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// End of the run of bytes from `at` that satisfy `pred`.
    fn run_end(&self, at: usize, pred: fn(&u8) -> bool) -> usize {
        at + self.text.as_bytes().get(at..).map_or(0, |rest| rest.iter().take_while(|b| pred(b)).count())
    }

    /// Describes the token at `at` for an error message.
    fn found_at(&self, at: usize) -> String {
        let Some(rest) = self.text.get(at..) else { return "the end of the range".into() };
        let Some(first) = rest.chars().next() else { return "the end of the range".into() };
        let token: String = if first.is_ascii_alphanumeric() {
            rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == ':').take(16).collect()
        } else {
            first.to_string()
        };
        format!("`{}`", token.escape_debug())
    }

    fn error_at(&self, at: usize, kind: RangeErrorKind, expected: &str) -> RangeError {
        RangeError { offset: at, kind, message: format!("expected {expected}, found {}", self.found_at(at)) }
    }

    fn error(&self, kind: RangeErrorKind, expected: &str) -> RangeError {
        self.error_at(self.pos, kind, expected)
    }

    fn selector(&mut self) -> Result<DaySelector, RangeError> {
        const WHAT: &str = "a weekday, a month, `day`, a date (YYYY-M-D) or a time (HH:MM)";
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() => {
                let start = self.pos;
                let end = self.run_end(start, u8::is_ascii_alphabetic);
                let word = self.text.get(start..end).unwrap_or("");
                if word.eq_ignore_ascii_case("day") {
                    self.pos = end;
                    self.skip_ws();
                    Ok(DaySelector::DayOfMonth(self.count(31, "a day of the month")?))
                } else if let Some(weekday) = weekday_from(word) {
                    self.pos = end;
                    self.skip_ws();
                    self.after_weekday(weekday)
                } else if let Some(month) = month_from(word) {
                    self.pos = end;
                    self.skip_ws();
                    let dim = days_in_month(2000, month); // a leap year: february 29 is allowed
                    Ok(DaySelector::MonthDay { month, day: self.count(dim, "a day of that month")? })
                } else {
                    Err(self.error(RangeErrorKind::Syntax, WHAT))
                }
            }
            Some(b) if b.is_ascii_digit() => {
                let digits_end = self.run_end(self.pos, u8::is_ascii_digit);
                if self.peek_at(digits_end) == Some(b'-') {
                    self.date()
                } else {
                    // Plain hours: leave the time for `spans`.
                    Ok(DaySelector::Every)
                }
            }
            _ => Err(self.error(RangeErrorKind::Syntax, WHAT)),
        }
    }

    /// After a weekday: either hours, or `[-]N MONTH` then hours.
    fn after_weekday(&mut self, weekday: Weekday) -> Result<DaySelector, RangeError> {
        let is_count = match self.peek() {
            Some(b'-') => true,
            Some(b) if b.is_ascii_digit() => {
                // A time has `:` right after its hour digits; a count does not.
                self.peek_at(self.run_end(self.pos, u8::is_ascii_digit)) != Some(b':')
            }
            _ => false,
        };
        if !is_count {
            return Ok(DaySelector::Weekday(weekday));
        }
        let nth = self.count(5, "which occurrence in the month")?;
        self.skip_ws();
        let start = self.pos;
        let end = self.run_end(start, u8::is_ascii_alphabetic);
        let month = self.text.get(start..end).and_then(month_from);
        let Some(month) = month else {
            return Err(self.error(RangeErrorKind::Syntax, "a month name"));
        };
        self.pos = end;
        Ok(DaySelector::NthWeekday { weekday, nth, month })
    }

    /// `[-]N` with `1 <= |N| <= max`; the error names `what`.
    fn count(&mut self, max: i8, what: &str) -> Result<i8, RangeError> {
        let negative = self.eat(b'-');
        if negative {
            self.skip_ws();
        }
        let at = self.pos;
        // Any number of digits: a huge count is out of range, not a syntax error.
        let Some(n) = self.number(usize::MAX) else {
            return Err(self.error(RangeErrorKind::Syntax, &format!("a number ({what})")));
        };
        if n == 0 || n > max as u32 {
            let expected = format!("{what}: 1 to {max}, or -{max} to -1 counting from the end");
            return Err(self.error_at(at, RangeErrorKind::DayOutOfRange, &expected));
        }
        // n <= max <= 127 was just checked, so it fits.
        let n = n as i8;
        Ok(if negative { -n } else { n })
    }

    /// A run of at most `max_digits` digits, or `None` (position unchanged) if
    /// there is none or it is longer. Saturates rather than overflowing.
    fn number(&mut self, max_digits: usize) -> Option<u32> {
        let end = self.run_end(self.pos, u8::is_ascii_digit);
        if end == self.pos || end - self.pos > max_digits {
            return None;
        }
        let digits = self.text.as_bytes().get(self.pos..end)?;
        self.pos = end;
        Some(digits.iter().fold(0u32, |v, d| v.saturating_mul(10).saturating_add(u32::from(d - b'0'))))
    }

    /// `YYYY-M-D`, written without spaces.
    fn date(&mut self) -> Result<DaySelector, RangeError> {
        let year_at = self.pos;
        let Some(year) = self.number(4) else {
            return Err(self.error(RangeErrorKind::Syntax, "a year of at most 4 digits"));
        };
        let part = |p: &mut Self, what: &str| -> Result<(usize, u32), RangeError> {
            if !p.eat(b'-') {
                return Err(p.error(RangeErrorKind::Syntax, "`-` in a date YYYY-M-D"));
            }
            let at = p.pos;
            match p.number(2) {
                Some(n) => Ok((at, n)),
                None => Err(p.error(RangeErrorKind::Syntax, what)),
            }
        };
        let (month_at, month) = part(self, "a month number (1 to 12)")?;
        let (day_at, day) = part(self, "a day number")?;
        // number(4) and number(2) bound these values, so the casts are lossless.
        let (year, month, day) = (year as i16, month as i8, day as i8);
        if !(1..=12).contains(&month) {
            return Err(self.error_at(month_at, RangeErrorKind::InvalidDate, "a month number (1 to 12)"));
        }
        let dim = days_in_month(year, month);
        if !(1..=dim).contains(&day) {
            let expected = format!("a day of {} {year} (1 to {dim})", month_name(month));
            return Err(self.error_at(day_at, RangeErrorKind::InvalidDate, &expected));
        }
        match Date::new(year, month, day) {
            Ok(date) => Ok(DaySelector::Date(date)),
            Err(_) => Err(self.error_at(year_at, RangeErrorKind::InvalidDate, "a valid date")),
        }
    }

    /// `HH:MM - HH:MM ( , HH:MM - HH:MM )*`
    fn spans(&mut self) -> Result<Vec<Span>, RangeError> {
        let mut spans = Vec::new();
        loop {
            self.skip_ws();
            let start_at = self.pos;
            let start = self.time()?;
            self.skip_ws();
            if !self.eat(b'-') {
                return Err(self.error(RangeErrorKind::Syntax, "`-` between the start and end times"));
            }
            self.skip_ws();
            let end = self.time()?;
            let Some(span) = Span::new(start, end) else {
                let message = format!(
                    "expected a start before the end, found {}; write a range across midnight as two ranges",
                    self.text.get(start_at..self.pos).unwrap_or("").trim_end()
                );
                return Err(RangeError { offset: start_at, kind: RangeErrorKind::EmptySpan, message });
            };
            spans.push(span);
            self.skip_ws();
            if !self.eat(b',') {
                return Ok(spans);
            }
        }
    }

    /// `HH:MM` (one or two hour digits, two minute digits), as minutes of the day.
    fn time(&mut self) -> Result<u16, RangeError> {
        let hour_at = self.pos;
        let Some(hour) = self.number(2) else {
            return Err(self.error(RangeErrorKind::Syntax, "a time HH:MM"));
        };
        if !self.eat(b':') {
            return Err(self.error(RangeErrorKind::Syntax, "`:` in a time HH:MM"));
        }
        let minute_at = self.pos;
        if self.run_end(minute_at, u8::is_ascii_digit) != minute_at + 2 {
            return Err(self.error(RangeErrorKind::Syntax, "two digits of minutes in a time HH:MM"));
        }
        let minute = self.number(2).unwrap_or(u32::MAX);
        if hour > 24 {
            return Err(self.error_at(hour_at, RangeErrorKind::HourOutOfRange, "an hour from 00 to 24"));
        }
        if minute > 59 {
            return Err(self.error_at(minute_at, RangeErrorKind::MinuteOutOfRange, "minutes from 00 to 59"));
        }
        if hour == 24 && minute != 0 {
            return Err(self.error_at(hour_at, RangeErrorKind::HourOutOfRange, "a time no later than 24:00"));
        }
        // hour <= 24 and minute <= 59, so this is at most 1440.
        Ok((hour * 60 + minute) as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` and checks its canonical form, which must re-parse to the same value.
    fn check_ok(input: &str, canonical: &str) {
        let range = parse_range(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(range.to_string(), canonical, "{input:?}");
        assert_eq!(parse_range(canonical), Ok(range), "{input:?} re-parsed from {canonical:?}");
    }

    #[test]
    fn grammar() {
        let table = [
            // hours, every day
            ("09:00 - 17:30", "09:00-17:30"),
            ("09:00-17:30", "09:00-17:30"),
            ("  9:00-17:30\t", "09:00-17:30"),
            ("\n00:00 -24:00 ", "00:00-24:00"),
            ("00:00-00:01", "00:00-00:01"),
            ("09:00-10:00 ,12:00-13:00", "09:00-10:00, 12:00-13:00"),
            // WEEKDAY hours
            ("monday 09:00 - 17:30", "monday 09:00-17:30"),
            ("MONDAY 09:00-17:30", "monday 09:00-17:30"),
            ("Sunday\t23:59-24:00", "sunday 23:59-24:00"),
            ("monday 09:00 - 10:00, 12:00 - 13:00", "monday 09:00-10:00, 12:00-13:00"),
            ("tuesday 9:00-10:00,12:00-13:00,14:00-15:00", "tuesday 09:00-10:00, 12:00-13:00, 14:00-15:00"),
            // "day" [-]N hours
            ("day 2 00:00-24:00", "day 2 00:00-24:00"),
            ("day -1 00:00-24:00", "day -1 00:00-24:00"),
            ("DAY - 1 00:00-24:00", "day -1 00:00-24:00"),
            ("day 31 10:00-11:00", "day 31 10:00-11:00"),
            ("day -31 10:00-11:00", "day -31 10:00-11:00"),
            // MONTH [-]N hours
            ("january 1 00:00-24:00", "january 1 00:00-24:00"),
            ("December 25 00:00-24:00", "december 25 00:00-24:00"),
            ("february -1 00:00-24:00", "february -1 00:00-24:00"),
            ("february 29 00:00-24:00", "february 29 00:00-24:00"),
            ("april 30 00:00-24:00", "april 30 00:00-24:00"),
            // WEEKDAY [-]N MONTH hours
            ("monday 1 may 00:00-24:00", "monday 1 may 00:00-24:00"),
            ("monday -1 may 00:00-24:00", "monday -1 may 00:00-24:00"),
            ("Monday -1 AUGUST 00:00-24:00", "monday -1 august 00:00-24:00"),
            ("sunday 5 march 08:00-09:00", "sunday 5 march 08:00-09:00"),
            ("friday - 5 october 08:00-09:00", "friday -5 october 08:00-09:00"),
            // YYYY-M-D hours
            ("2014-04-20 00:00-24:00", "2014-04-20 00:00-24:00"),
            ("2014-4-2 10:00-11:00", "2014-04-02 10:00-11:00"),
            ("2024-02-29 10:00-11:00", "2024-02-29 10:00-11:00"),
            ("2000-2-29 10:00-11:00", "2000-02-29 10:00-11:00"),
        ];
        for (input, canonical) in table {
            check_ok(input, canonical);
        }
    }

    #[test]
    fn selectors_and_spans() {
        let range = parse_range("monday -1 may 09:00-17:30, 18:00-24:00").unwrap();
        let expected = DaySelector::NthWeekday { weekday: Weekday::Monday, nth: -1, month: 5 };
        assert_eq!(range.selector(), expected);
        assert_eq!(range.spans(), [Span::new(540, 1050).unwrap(), Span::new(1080, 1440).unwrap()]);
        assert_eq!(Span::new(10, 10), None);
        assert_eq!(Span::new(0, 1441), None);
        assert_eq!(TimeRange::new(DaySelector::Every, vec![]), None);
        assert_eq!("09:00-10:00".parse::<TimeRange>().map(|r| r.selector()), Ok(DaySelector::Every));
    }

    /// Checks that `input` fails with `kind` at byte `offset`.
    fn check_err(input: &str, kind: RangeErrorKind, offset: usize) {
        let err = parse_range(input).expect_err(input);
        assert_eq!((err.kind, err.offset), (kind, offset), "{input:?}: {err}");
        assert!(err.message.starts_with("expected "), "{input:?}: {err}");
        assert!(err.message.contains("found "), "{input:?}: {err}");
    }

    #[test]
    fn errors() {
        use RangeErrorKind::*;
        let table = [
            // unparsable
            ("", Syntax, 0),
            ("   ", Syntax, 3),
            ("fooday 09:00-10:00", Syntax, 0),
            ("é 09:00-10:00", Syntax, 0),
            ("monday", Syntax, 6),
            ("monday 09:00", Syntax, 12),
            ("monday 09:00-", Syntax, 13),
            ("09:00 17:30", Syntax, 6),
            ("09:00-17:30,", Syntax, 12),
            ("09:000-10:00", Syntax, 3),
            ("9:5-10:00", Syntax, 2),
            ("123:00-130:00", Syntax, 0),
            ("09-10", Syntax, 5), // read as a date missing its day
            ("day x 09:00-10:00", Syntax, 4),
            ("day 09:00-10:00", Syntax, 6),
            ("monday 1 00:00-24:00", Syntax, 9),
            ("monday 1 mayday 00:00-24:00", Syntax, 9),
            ("may 09:00-10:00", Syntax, 6),
            ("2014-04 00:00-24:00", Syntax, 7),
            ("20145-01-01 00:00-24:00", Syntax, 0),
            ("2014-123-01 00:00-24:00", Syntax, 5),
            // trailing text
            ("09:00-17:30 extra", Trailing, 12),
            ("09:00-17:30;", Trailing, 11),
            ("monday 09:00-17:30 é", Trailing, 19),
            ("09:00-10:00 11:00-12:00", Trailing, 12),
            // hours over 24:00, minutes over 59
            ("25:00-26:00", HourOutOfRange, 0),
            ("09:00-24:30", HourOutOfRange, 6),
            ("monday 09:00-10:00, 24:01-24:02", HourOutOfRange, 20),
            ("09:60-10:00", MinuteOutOfRange, 3),
            ("09:00-10:99", MinuteOutOfRange, 9),
            // start not before end
            ("17:00-09:00", EmptySpan, 0),
            ("09:00-09:00", EmptySpan, 0),
            ("24:00-24:00", EmptySpan, 0),
            ("monday 10:00-11:00, 12:00-11:00", EmptySpan, 20),
            ("22:00-02:00", EmptySpan, 0),
            // day 0, N out of range
            ("day 0 00:00-24:00", DayOutOfRange, 4),
            ("day 32 00:00-24:00", DayOutOfRange, 4),
            ("day -32 00:00-24:00", DayOutOfRange, 5),
            ("day - 0 00:00-24:00", DayOutOfRange, 6),
            ("day 99999999999999999999 00:00-24:00", DayOutOfRange, 4),
            ("monday 6 may 00:00-24:00", DayOutOfRange, 7),
            ("monday 0 may 00:00-24:00", DayOutOfRange, 7),
            ("monday -6 may 00:00-24:00", DayOutOfRange, 8),
            ("february 30 00:00-24:00", DayOutOfRange, 9),
            ("february -30 00:00-24:00", DayOutOfRange, 10),
            ("april 31 00:00-24:00", DayOutOfRange, 6),
            ("january 0 00:00-24:00", DayOutOfRange, 8),
            // invalid dates
            ("2014-02-30 00:00-24:00", InvalidDate, 8),
            ("2023-02-29 00:00-24:00", InvalidDate, 8),
            ("1900-02-29 00:00-24:00", InvalidDate, 8),
            ("2014-13-01 00:00-24:00", InvalidDate, 5),
            ("2014-00-01 00:00-24:00", InvalidDate, 5),
            ("2014-04-00 00:00-24:00", InvalidDate, 8),
        ];
        for (input, kind, offset) in table {
            check_err(input, kind, offset);
        }
    }

    #[test]
    fn error_messages() {
        let table = [
            (
                "monday 6 may 00:00-24:00",
                "expected which occurrence in the month: 1 to 5, or -5 to -1 counting from the end, found `6` (at byte 7)",
            ),
            ("09:00-17:30 extra", "expected `,` and another span, or the end of the range, found `extra` (at byte 12)"),
            ("monday 09:00", "expected `-` between the start and end times, found the end of the range (at byte 12)"),
            ("2014-02-30 00:00-24:00", "expected a day of february 2014 (1 to 28), found `30` (at byte 8)"),
            (
                "22:00-02:00",
                "expected a start before the end, found 22:00-02:00; write a range across midnight as two ranges (at byte 0)",
            ),
            (
                "fooday 09:00",
                "expected a weekday, a month, `day`, a date (YYYY-M-D) or a time (HH:MM), found `fooday` (at byte 0)",
            ),
        ];
        for (input, expected) in table {
            assert_eq!(parse_range(input).map_err(|e| e.to_string()), Err(expected.to_string()), "{input:?}");
        }
    }
}
