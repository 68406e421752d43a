//! Nagios plugin output and command lines (SEMANTICS.md §9): exit-status mapping,
//! summary / long output / perfdata split, perfdata items, threshold ranges and
//! command-line splitting. Pure functions over text; spawning lives in `crate::exec`.
//!
//! Nothing here panics on any input: real plugins print garbage, so bad perfdata items
//! are skipped and counted (the first few errors are kept for diagnostics) and the rest
//! of the output is still used. All slicing is at positions found by `find`/`char_indices`,
//! which are char boundaries.

use std::fmt;

use thiserror::Error;

/// How a plugin run ended, as the check state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
    /// Exit code outside 0..=3, killed by a signal, or could not be started.
    Error,
    /// Ran longer than its timeout and was killed.
    Timeout,
}

impl PluginStatus {
    /// Exit codes 0/1/2/3 are OK/WARNING/CRITICAL/UNKNOWN; anything else is ERROR.
    pub fn from_exit_code(code: i32) -> Self {
        match code {
            0 => PluginStatus::Ok,
            1 => PluginStatus::Warning,
            2 => PluginStatus::Critical,
            3 => PluginStatus::Unknown,
            _ => PluginStatus::Error,
        }
    }

    /// The exit code a check reports for this status: a timeout is CRITICAL and
    /// any other failure UNKNOWN, as check_tcp and check_nrpe report them.
    pub fn exit_code(self) -> u8 {
        match self {
            PluginStatus::Ok => 0,
            PluginStatus::Warning => 1,
            PluginStatus::Critical | PluginStatus::Timeout => 2,
            PluginStatus::Unknown | PluginStatus::Error => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PluginStatus::Ok => "OK",
            PluginStatus::Warning => "WARNING",
            PluginStatus::Critical => "CRITICAL",
            PluginStatus::Unknown => "UNKNOWN",
            PluginStatus::Error => "ERROR",
            PluginStatus::Timeout => "TIMEOUT",
        }
    }
}

/// The four states a check reports as its exit code (0..=3): what native checks
/// produce, where [`PluginStatus`] adds what can happen to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl ExitStatus {
    pub fn label(self) -> &'static str {
        match self {
            ExitStatus::Ok => "OK",
            ExitStatus::Warning => "WARNING",
            ExitStatus::Critical => "CRITICAL",
            ExitStatus::Unknown => "UNKNOWN",
        }
    }

    pub fn exit_code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for PluginStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many perfdata errors [`PluginOutput`] keeps; the rest are only counted, so a
/// plugin printing megabytes of garbage costs no more than its output.
pub const MAX_KEPT_ERRORS: usize = 8;

/// A plugin's output split per §9.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOutput {
    /// First line up to `|`, trimmed.
    pub summary: String,
    /// Later lines up to the first line containing `|` (that line's part before `|`
    /// included), joined with `\n`, trailing blank lines dropped.
    pub long_output: String,
    pub perfdata: Vec<PerfData>,
    /// Perfdata items that did not parse and were skipped.
    pub perfdata_skipped: usize,
    /// The first [`MAX_KEPT_ERRORS`] of those, for diagnostics.
    pub perfdata_errors: Vec<PerfDataError>,
}

impl PluginOutput {
    /// Parses raw output bytes; invalid UTF-8 is replaced, not rejected.
    pub fn parse(raw: &[u8]) -> Self {
        Self::parse_str(&String::from_utf8_lossy(raw))
    }

    pub fn parse_str(text: &str) -> Self {
        let mut out = PluginOutput::default();
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if let Some(first) = lines.next() {
            match first.split_once('|') {
                Some((summary, perf)) => {
                    out.summary = summary.trim().to_owned();
                    out.add_perfdata(perf);
                }
                None => out.summary = first.trim().to_owned(),
            }
        }
        let mut in_perfdata = false;
        let mut long: Vec<&str> = Vec::new();
        for line in lines {
            if in_perfdata {
                out.add_perfdata(line);
            } else if let Some((text, perf)) = line.split_once('|') {
                long.push(text);
                out.add_perfdata(perf);
                in_perfdata = true;
            } else {
                long.push(line);
            }
        }
        while long.last().is_some_and(|l| l.trim().is_empty()) {
            long.pop();
        }
        out.long_output = long.join("\n");
        out
    }

    fn add_perfdata(&mut self, text: &str) {
        for item in PerfDataItems::new(text) {
            match item {
                Ok(p) => self.perfdata.push(p),
                Err(e) => {
                    self.perfdata_skipped += 1;
                    if self.perfdata_errors.len() < MAX_KEPT_ERRORS {
                        self.perfdata_errors.push(e);
                    }
                }
            }
        }
    }
}

/// Iterates over the perfdata items of one stretch of text: items are separated by
/// whitespace; a label starting with `'` is quoted (`''` is a quote) and may hold
/// spaces and `=`.
#[derive(Debug, Clone)]
pub struct PerfDataItems<'a> {
    rest: &'a str,
}

impl<'a> PerfDataItems<'a> {
    pub fn new(text: &'a str) -> Self {
        PerfDataItems { rest: text }
    }
}

impl Iterator for PerfDataItems<'_> {
    type Item = Result<PerfData, PerfDataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.rest.trim_start();
        if text.is_empty() {
            self.rest = text;
            return None;
        }
        // The token ends at the first whitespace after the quoted label, if any.
        let label_end = if text.starts_with('\'') {
            match quoted_end(text) {
                Some(end) => end,
                None => {
                    self.rest = "";
                    return Some(Err(PerfDataError::UnterminatedQuote { item: excerpt(text) }));
                }
            }
        } else {
            0
        };
        let tail = text.get(label_end..).unwrap_or("");
        let token_end = label_end + tail.find(char::is_whitespace).unwrap_or(tail.len());
        let (token, rest) = text.split_at(token_end);
        self.rest = rest;
        Some(PerfData::parse(token))
    }
}

/// Byte offset just past the closing quote of a `'`-quoted label at the start of
/// `text`, skipping `''` escapes; `None` if it never closes.
fn quoted_end(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                chars.next();
            } else {
                return Some(i + 1);
            }
        }
    }
    None
}

/// One perfdata item: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerfData {
    pub label: String,
    /// `None` for `U` (the plugin could not determine the value).
    pub value: Option<f64>,
    pub uom: Uom,
    pub warn: Option<Range>,
    pub crit: Option<Range>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl PerfData {
    /// Parses one whitespace-free item (a quoted label may hold spaces).
    pub fn parse(item: &str) -> Result<PerfData, PerfDataError> {
        let (label, rest) = if item.starts_with('\'') {
            let end = quoted_end(item).ok_or_else(|| PerfDataError::UnterminatedQuote { item: excerpt(item) })?;
            let inner = item.get(1..end - 1).unwrap_or("");
            (inner.replace("''", "'"), item.get(end..).unwrap_or(""))
        } else {
            match item.split_once('=') {
                Some((label, _)) => (label.to_owned(), item.get(label.len()..).unwrap_or("")),
                None => return Err(PerfDataError::NoEquals { item: excerpt(item) }),
            }
        };
        let Some(fields) = rest.strip_prefix('=') else {
            return Err(PerfDataError::NoEquals { item: excerpt(item) });
        };
        if label.is_empty() {
            return Err(PerfDataError::EmptyLabel { item: excerpt(item) });
        }
        let mut fields = fields.split(';');
        // `split` always yields at least one piece.
        let value_text = fields.next().unwrap_or("");
        let (value, uom) = parse_value(value_text)
            .ok_or_else(|| PerfDataError::BadValue { label: excerpt(&label), value: excerpt(value_text) })?;
        let mut field = |name: &'static str| fields.next().filter(|f| !f.is_empty()).map(|f| (name, f));
        let warn = field("warn");
        let crit = field("crit");
        let min = field("min");
        let max = field("max");
        if fields.any(|f| !f.is_empty()) {
            return Err(PerfDataError::TooManyFields { label: excerpt(&label) });
        }
        let range = |f: Option<(&'static str, &str)>| {
            f.map(|(name, text)| {
                Range::parse(text).map_err(|source| PerfDataError::BadThreshold {
                    label: excerpt(&label),
                    field: name,
                    source,
                })
            })
            .transpose()
        };
        let number = |f: Option<(&'static str, &str)>| {
            f.map(|(name, text)| {
                parse_number(text).ok_or_else(|| PerfDataError::BadNumber {
                    label: excerpt(&label),
                    field: name,
                    text: excerpt(text),
                })
            })
            .transpose()
        };
        Ok(PerfData { warn: range(warn)?, crit: range(crit)?, min: number(min)?, max: number(max)?, label, value, uom })
    }
}

impl fmt::Display for PerfData {
    /// The canonical form: the label quoted when needed, empty fields left empty and
    /// trailing empty fields dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.label.contains(|c: char| c.is_whitespace() || c == '\'' || c == '=') {
            write!(f, "'{}'=", self.label.replace('\'', "''"))?;
        } else {
            write!(f, "{}=", self.label)?;
        }
        match self.value {
            Some(v) => write!(f, "{v}{}", self.uom)?,
            None => f.write_str("U")?,
        }
        let fields = [
            self.warn.map(|r| r.to_string()),
            self.crit.map(|r| r.to_string()),
            self.min.map(|v| v.to_string()),
            self.max.map(|v| v.to_string()),
        ];
        let used = fields.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        for field in fields.iter().take(used) {
            write!(f, ";{}", field.as_deref().unwrap_or(""))?;
        }
        Ok(())
    }
}

/// A perfdata unit of measurement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Uom {
    None,
    Seconds,
    Milliseconds,
    Microseconds,
    Percent,
    Bytes,
    KiloBytes,
    MegaBytes,
    GigaBytes,
    TeraBytes,
    /// `c`: a continuous counter.
    Counter,
    /// Any other unit (`KiB`, `dBm`, `rpm`…): kept as written rather than rejected,
    /// because newer plugins print units the 2014 list does not know.
    Other(String),
}

/// Longest unit kept as [`Uom::Other`]; longer text after a number is garbage.
const MAX_OTHER_UOM: usize = 16;

impl Uom {
    fn parse(text: &str) -> Option<Uom> {
        Some(match text {
            "" => Uom::None,
            "s" => Uom::Seconds,
            "ms" => Uom::Milliseconds,
            "us" => Uom::Microseconds,
            "%" => Uom::Percent,
            "B" => Uom::Bytes,
            "KB" => Uom::KiloBytes,
            "MB" => Uom::MegaBytes,
            "GB" => Uom::GigaBytes,
            "TB" => Uom::TeraBytes,
            "c" => Uom::Counter,
            other => {
                let plausible = other.len() <= MAX_OTHER_UOM
                    && other.chars().all(|c| !c.is_ascii_digit() && !c.is_whitespace() && !"=;'.,+-".contains(c));
                if !plausible {
                    return None;
                }
                Uom::Other(other.to_owned())
            }
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Uom::None => "",
            Uom::Seconds => "s",
            Uom::Milliseconds => "ms",
            Uom::Microseconds => "us",
            Uom::Percent => "%",
            Uom::Bytes => "B",
            Uom::KiloBytes => "KB",
            Uom::MegaBytes => "MB",
            Uom::GigaBytes => "GB",
            Uom::TeraBytes => "TB",
            Uom::Counter => "c",
            Uom::Other(s) => s,
        }
    }
}

impl fmt::Display for Uom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `value[UOM]` → (value, unit); `U` is an undetermined value.
fn parse_value(text: &str) -> Option<(Option<f64>, Uom)> {
    if text == "U" {
        return Some((None, Uom::None));
    }
    let end = number_prefix_len(text);
    if end == 0 {
        return None;
    }
    let value = text.get(..end)?.parse::<f64>().ok().filter(|v| v.is_finite())?;
    Some((Some(value), Uom::parse(text.get(end..)?)?))
}

/// A whole field that must be a number (min, max, range ends).
fn parse_number(text: &str) -> Option<f64> {
    let end = number_prefix_len(text);
    if end == 0 || end != text.len() {
        return None;
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Length of the decimal number at the start of `text`: `[+-]digits[.digits][e[+-]digits]`
/// with at least one digit; 0 if there is none. Scanned by hand because `f64::from_str`
/// also takes `inf` and `NaN`, and because the unit follows without a separator (`1e3`
/// is a number, `1ms` a number and a unit).
fn number_prefix_len(text: &str) -> usize {
    let b = text.as_bytes();
    let digits = |from: usize| b.get(from..).map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count());
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int = digits(i);
    i += int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        frac = digits(i + 1);
        if int > 0 || frac > 0 {
            i += 1 + frac;
        }
    }
    if int == 0 && frac == 0 {
        return 0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let exp = digits(i + 1 + sign);
        if exp > 0 {
            i += 1 + sign + exp;
        }
    }
    i
}

/// A Nagios threshold range `[@][start:][end]`: without `@` a value alerts when it is
/// outside `start..=end`, with `@` when inside. `start` defaults to 0, a missing `end`
/// is +∞ and `~` as start is -∞.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub start: f64,
    pub end: f64,
    /// `@`: alert inside the range instead of outside.
    pub inside: bool,
}

impl Range {
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let (inside, body) = match text.strip_prefix('@') {
            Some(body) => (true, body),
            None => (false, text),
        };
        let bad = || RangeError::Syntax { text: excerpt(text) };
        let (start, end) = match body.split_once(':') {
            Some((start, end)) => {
                let start = match start {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    s => parse_number(s).ok_or_else(bad)?,
                };
                let end = if end.is_empty() { f64::INFINITY } else { parse_number(end).ok_or_else(bad)? };
                (start, end)
            }
            None => (0.0, parse_number(body).ok_or_else(bad)?),
        };
        if start > end {
            return Err(RangeError::StartAfterEnd { start, end });
        }
        Ok(Range { start, end, inside })
    }

    /// Whether `value` lies within `start..=end` (ignoring `@`).
    pub fn contains(&self, value: f64) -> bool {
        self.start <= value && value <= self.end
    }

    /// Whether `value` triggers this threshold: outside the range, or inside with `@`.
    pub fn alerts(&self, value: f64) -> bool {
        self.contains(value) == self.inside
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        if self.start == f64::NEG_INFINITY {
            f.write_str("~:")?;
        } else if self.start != 0.0 {
            write!(f, "{}:", self.start)?;
        } else if self.end == f64::INFINITY {
            f.write_str("0:")?;
        }
        if self.end != f64::INFINITY {
            write!(f, "{}", self.end)?;
        }
        Ok(())
    }
}

/// Splits a `command_line` into argv (§9): words are separated by ASCII whitespace outside
/// single or double quotes; inside quotes everything is literal (no escapes). A word
/// that starts with a quote loses that quote and the one closing it; quotes anywhere
/// else are kept as written, as the original system did (`--label='a b'` stays so).
pub fn split_command_line(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.next_if(|&(_, c)| c.is_ascii_whitespace()).is_some() {}
        let Some(&(start, first)) = chars.peek() else { return Ok(words) };
        let mut word = String::new();
        let mut quote: Option<(char, usize)> = None;
        // The quote that opened the word, until its closing quote is dropped.
        let mut strip = matches!(first, '\'' | '"');
        while let Some(&(i, c)) = chars.peek() {
            match quote {
                Some((q, _)) if c == q => {
                    quote = None;
                    if strip {
                        strip = false;
                    } else {
                        word.push(c);
                    }
                }
                Some(_) => word.push(c),
                None if c.is_ascii_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some((c, i));
                    if !(strip && i == start) {
                        word.push(c);
                    }
                }
                None => word.push(c),
            }
            chars.next();
        }
        if let Some((quote, offset)) = quote {
            return Err(SplitError::UnterminatedQuote { quote, offset });
        }
        words.push(word);
    }
}

/// Why a command line cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SplitError {
    #[error("unterminated {quote} quote opened at byte {offset}")]
    UnterminatedQuote { quote: char, offset: usize },
}

/// Why a threshold range does not parse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RangeError {
    #[error("{text:?} is not a range ([@][start:][end], start may be ~)")]
    Syntax { text: String },
    #[error("range start {start} is after its end {end}")]
    StartAfterEnd { start: f64, end: f64 },
}

/// Why one perfdata item was skipped. Texts are cut to [`EXCERPT`] characters.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PerfDataError {
    #[error("perfdata item {item:?} has no '='")]
    NoEquals { item: String },
    #[error("perfdata item {item:?} has an empty label")]
    EmptyLabel { item: String },
    #[error("perfdata item {item:?} has an unterminated quote")]
    UnterminatedQuote { item: String },
    #[error("perfdata {label:?}: value {value:?} is not a number with a unit")]
    BadValue { label: String, value: String },
    #[error("perfdata {label:?}: {field} threshold: {source}")]
    BadThreshold { label: String, field: &'static str, source: RangeError },
    #[error("perfdata {label:?}: {field} {text:?} is not a number")]
    BadNumber { label: String, field: &'static str, text: String },
    #[error("perfdata {label:?}: more than value;warn;crit;min;max")]
    TooManyFields { label: String },
}

/// How much of an offending text an error keeps.
pub const EXCERPT: usize = 64;

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per part, so an expectation reads like the output it came from.
    fn render(out: &PluginOutput) -> String {
        let mut s = format!("summary: {}", out.summary);
        if !out.long_output.is_empty() {
            s += &format!("\nlong: {}", out.long_output.replace('\n', "⏎"));
        }
        if !out.perfdata.is_empty() {
            let items: Vec<String> = out.perfdata.iter().map(|p| p.to_string()).collect();
            s += &format!("\nperf: {}", items.join(" "));
        }
        if out.perfdata_skipped > 0 {
            s += &format!("\nskipped: {}", out.perfdata_skipped);
        }
        s
    }

    fn check_output(raw: &[u8], expected: &str) {
        let out = PluginOutput::parse(raw);
        assert_eq!(render(&out), expected, "for {:?}", String::from_utf8_lossy(raw));
    }

    #[test]
    fn exit_codes() {
        let cases = [
            (0, PluginStatus::Ok),
            (1, PluginStatus::Warning),
            (2, PluginStatus::Critical),
            (3, PluginStatus::Unknown),
            (4, PluginStatus::Error),
            (7, PluginStatus::Error),
            (127, PluginStatus::Error),
            (255, PluginStatus::Error),
            (-1, PluginStatus::Error),
        ];
        for (code, status) in cases {
            assert_eq!(PluginStatus::from_exit_code(code), status, "exit {code}");
        }
        assert_eq!(PluginStatus::Timeout.to_string(), "TIMEOUT");
    }

    #[test]
    fn output_split() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "summary: "),
            (b"OK\n", "summary: OK"),
            (b"  OK - fine  |  ", "summary: OK - fine"),
            (b"OK|a=1", "summary: OK\nperf: a=1"),
            (b"OK\r\nsecond\r\n", "summary: OK\nlong: second"),
            (b"OK\nline 2\nline 3\n\n\n", "summary: OK\nlong: line 2\u{23ce}line 3"),
            // The example of the Nagios plugin API documentation.
            (
                b"DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                  / 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n\
                  /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
                  /home=69357MB;253404;253409;0;253414 \n/var/log=818MB;970;975;0;980\n",
                "summary: DISK OK - free space: / 3326 MB (56%);\n\
                 long: / 15272 MB (77%);\u{23ce}/boot 68 MB (69%);\u{23ce}/home 69357 MB (27%);\u{23ce}/var/log 819 MB (84%); \n\
                 perf: /=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98 /home=69357MB;253404;253409;0;253414 \
                 /var/log=818MB;970;975;0;980",
            ),
            // After the line with `|`, every line is perfdata, even one that looks like text.
            (b"OK\nmore | a=1\nb=2\nnot perfdata\n", "summary: OK\nlong: more \nperf: a=1 b=2\nskipped: 2"),
            // Invalid UTF-8 is replaced, never rejected.
            (b"OK \xff\xfe|a=1\xff", "summary: OK \u{fffd}\u{fffd}\nperf: a=1\u{fffd}"),
            (b"||||", "summary: \nskipped: 1"),
            (b"OK | 'unterminated=1 b=2", "summary: OK\nskipped: 1"),
        ];
        for (raw, expected) in cases {
            check_output(raw, expected);
        }
    }

    #[test]
    fn perfdata_items() {
        // Item, then its canonical form or the error it gives.
        let cases = [
            ("a=1", "a=1"),
            ("a=1;;;;", "a=1"),
            ("time=0.001838s;;;0.000000;10.000000", "time=0.001838s;;;0;10"),
            ("rta=0.043000ms;100.000000;200.000000;0.000000", "rta=0.043ms;100;200;0"),
            ("pl=0%;20;40;0;", "pl=0%;20;40;0"),
            ("size=3856B;;;0;", "size=3856B;;;0"),
            (
                "/=16719544320B;216442024755;243497277849;0;270552530944",
                "/=16719544320B;216442024755;243497277849;0;270552530944",
            ),
            ("procs=15;1:1;1:500;0;", "procs=15;1:1;1:500;0"),
            ("x=-3.5e2us;~:10;@5:;-1;+1", "x=-350us;~:10;@5:;-1;1"),
            ("c=12c", "c=12c"),
            ("t=1TB", "t=1TB"),
            ("free=10KiB", "free=10KiB"),
            ("'it''s'=3c", "'it''s'=3c"),
            ("'d e'=5%", "'d e'=5%"),
            ("'a=b'=1", "'a=b'=1"),
            ("g=U", "g=U"),
            ("h=.5", "h=0.5"),
            ("b", "NoEquals"),
            ("=1", "EmptyLabel"),
            ("''=1", "EmptyLabel"),
            ("'x'1", "NoEquals"),
            ("'open=1", "UnterminatedQuote"),
            ("c=zz", "BadValue"),
            ("h=1,5", "BadValue"),
            ("v=1.2.3", "BadValue"),
            ("v=inf", "BadValue"),
            ("v=NaN", "BadValue"),
            ("v=1e999", "BadValue"),
            ("v=", "BadValue"),
            ("v=1averyveryverylongunitname", "BadValue"),
            ("f=1;2;3;4;5;6", "TooManyFields"),
            ("w=1;x", "BadThreshold"),
            ("w=1;10:5", "BadThreshold"),
            ("m=1;;;zero", "BadNumber"),
            ("m=1;;;;1e999", "BadNumber"),
        ];
        for (item, expected) in cases {
            let got = match PerfData::parse(item) {
                Ok(p) => p.to_string(),
                Err(e) => format!("{e:?}").split([' ', '{']).next().unwrap_or_default().to_owned(),
            };
            assert_eq!(got, expected, "item {item:?}");
        }
    }

    #[test]
    fn perfdata_round_trips() {
        for item in ["a=1", "'d e'=5%;@1:2;~:3;0;100", "'it''s'=U", "x=0:;", "y=1;0:"] {
            let parsed = PerfData::parse(item).expect(item);
            assert_eq!(PerfData::parse(&parsed.to_string()), Ok(parsed), "{item}");
        }
    }

    #[test]
    fn ranges() {
        // Range, then values that alert and values that do not.
        let cases: &[(&str, &[f64], &[f64])] = &[
            ("10", &[-1.0, 10.5, 11.0], &[0.0, 5.0, 10.0]),
            ("10:", &[-1.0, 9.99], &[10.0, 1e9]),
            ("~:10", &[10.01, 1e9], &[-1e9, 10.0]),
            ("10:20", &[9.0, 21.0], &[10.0, 15.0, 20.0]),
            ("@10:20", &[10.0, 15.0, 20.0], &[9.0, 21.0]),
            (":5", &[6.0, -0.5], &[0.0, 5.0]),
            ("~:", &[], &[-1e300, 0.0, 1e300]),
            ("@0", &[0.0], &[0.5, -0.5]),
            ("-5:-1", &[0.0, -6.0], &[-5.0, -1.0]),
        ];
        for &(text, alert, quiet) in cases {
            let range = Range::parse(text).expect(text);
            for &v in alert {
                assert!(range.alerts(v), "{text} should alert at {v}");
            }
            for &v in quiet {
                assert!(!range.alerts(v), "{text} should not alert at {v}");
            }
            assert_eq!(Range::parse(&range.to_string()), Ok(range), "{text} round trip");
        }
        for bad in ["", "@", "a", "1:2:3", "~", "10:5", "1e999", "@~:x", "--1", "1 "] {
            assert!(Range::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(Range::parse("10").expect("10").contains(10.0));
    }

    #[test]
    fn command_lines() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("   ", &[]),
            (
                "/usr/lib/nagios/plugins/check_ping -H 10.0.0.1 -w 100,20% -c 200,40%",
                &["/usr/lib/nagios/plugins/check_ping", "-H", "10.0.0.1", "-w", "100,20%", "-c", "200,40%"],
            ),
            ("  a\t b \n c ", &["a", "b", "c"]),
            ("/bin/sh -c 'echo hi; exit 2'", &["/bin/sh", "-c", "echo hi; exit 2"]),
            ("x \"a 'b' c\"", &["x", "a 'b' c"]),
            ("x 'say \"hi\"'", &["x", "say \"hi\""]),
            ("x ''", &["x", ""]),
            ("x '' \"\"", &["x", "", ""]),
            // Quotes inside a word group whitespace but are kept.
            ("x --label='a b'", &["x", "--label='a b'"]),
            // Only the opening quote and its partner go.
            ("x 'a b'c", &["x", "a bc"]),
            ("x 'a'\"b c\"", &["x", "a\"b c\""]),
            // Only ASCII whitespace separates words, as in a shell.
            ("a\u{a0}b c", &["a\u{a0}b", "c"]),
        ];
        for &(line, words) in cases {
            let got = split_command_line(line).expect(line);
            assert_eq!(got.iter().map(String::as_str).collect::<Vec<_>>(), words, "{line:?}");
        }
        let errors = [("x 'a b", '\'', 2), ("x \"a b", '"', 2), ("x it's", '\'', 4), ("x 'a' 'b", '\'', 6)];
        for (line, quote, offset) in errors {
            assert_eq!(split_command_line(line), Err(SplitError::UnterminatedQuote { quote, offset }), "{line:?}");
        }
    }

    /// Outputs of real monitoring-plugins 2.3.3 recorded by testdata/plugins/record.sh
    /// (NAME.out), and what we make of them (NAME.expect: status, then [`render`]).
    /// `BLESS=1` rewrites the expectations after a re-recording; review the diff.
    #[test]
    fn real_plugin_outputs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/plugins");
        let manifest = std::fs::read_to_string(dir.join("MANIFEST")).expect("MANIFEST");
        let mut seen = 0;
        for line in manifest.lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(name), Some(code), Some(command)) = (fields.next(), fields.next(), fields.next()) else {
                panic!("bad MANIFEST line {line:?}");
            };
            let raw = std::fs::read(dir.join(format!("{name}.out"))).expect(name);
            let code: i32 = code.parse().expect(code);
            let got = format!("{}\n{}\n", PluginStatus::from_exit_code(code), render(&PluginOutput::parse(&raw)));
            let expect_path = dir.join(format!("{name}.expect"));
            if std::env::var_os("BLESS").is_some() {
                std::fs::write(&expect_path, &got).expect("write expectation");
            }
            let expected = std::fs::read_to_string(&expect_path).unwrap_or_default();
            assert_eq!(got, expected, "fixture {name} ({command})");
            seen += 1;
        }
        assert!(seen >= 20, "only {seen} fixtures");
    }
}
