//! Interval strings of `<schedule>` and `<escalate>`: `5` (minutes), `90s`, `500ms`, `2h`.

use std::time::Duration;

/// Parses an interval: an integer with an optional unit `ms`, `s`, `m` or `h`
/// (case-insensitive, spaces allowed before the unit); a bare number is minutes.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "expected an interval such as `5`, `90s` or `2h`, found `{t}`"
        ));
    }
    let n: u64 = t[..digits].parse().map_err(|_| format!("interval `{t}` is too large"))?;
    let unit = t[digits..].trim();
    let ms_per = match unit.to_ascii_lowercase().as_str() {
        "" | "m" => 60_000,
        "ms" => 1,
        "s" => 1_000,
        "h" => 3_600_000,
        other => {
            return Err(format!(
                "unknown interval unit `{other}` in `{t}` (expected ms, s, m or h; a bare number is minutes)"
            ));
        }
    };
    if n == 0 {
        return Err(format!("interval `{t}` must be greater than zero"));
    }
    let ms = n.checked_mul(ms_per).filter(|ms| *ms <= 366 * 24 * 3_600_000);
    ms.map(Duration::from_millis).ok_or_else(|| format!("interval `{t}` is longer than a year"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        let ok = [
            ("5", 300_000),
            ("90s", 90_000),
            ("2h", 7_200_000),
            ("5m", 300_000),
            ("250ms", 250),
            (" 30 S ", 30_000),
            ("1", 60_000),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_interval(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "m", "1.5", "5d", "-1", "0", "0s", "99999999999999999999", "9999999h", "5 minutes"] {
            assert!(parse_interval(bad).is_err(), "{bad} should fail");
        }
    }
}
