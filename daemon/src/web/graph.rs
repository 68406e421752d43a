//! A series of readings as a small inline SVG graph: the mean as a line, the bucket
//! extremes as a band, the range and the time span as labels. Pure (series in, text
//! out); no scripts, no external references. Times are shown in UTC.

use std::fmt::Write;

use jiff::Timestamp;

use super::history::Series;
use super::pages::Esc;

const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 16.0;

/// One column of the plot: a reading, or the readings that fall on one pixel.
#[derive(Debug, Clone, Copy)]
struct Col {
    x: f64,
    value: f64,
    min: f64,
    max: f64,
}

/// The series as an `<svg>` element of `width`×`height` pixels.
pub fn svg(series: &Series, width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width.max(120)), f64::from(height.max(60)));
    let plot_w = w - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let mut out = String::with_capacity(2048);
    let title = if series.uom.is_empty() { series.label.clone() } else { format!("{} ({})", series.label, series.uom) };
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><text x="4" y="12">{t}</text>"#,
        t = Esc(&title)
    );
    let cols = columns(series, plot_w);
    if cols.is_empty() {
        let _ = write!(out, r#"<text x="{}" y="{}">no data</text></svg>"#, LEFT, TOP + plot_h / 2.0);
        return out;
    }
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for c in &cols {
        lo = lo.min(c.min).min(c.value);
        hi = hi.max(c.max).max(c.value);
    }
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        // A flat series sits in the middle rather than on an edge.
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    let y = |v: f64| TOP + plot_h - (v - lo) / (hi - lo) * plot_h;
    let _ = write!(out, r#"<path class="axis" d="M{LEFT} {TOP}V{b}H{r}"/>"#, b = TOP + plot_h, r = LEFT + plot_w);
    if cols.iter().any(|c| c.min < c.value || c.max > c.value) {
        out.push_str(r#"<path class="band" d="M"#);
        for (i, c) in cols.iter().chain(cols.iter().rev()).enumerate() {
            let v = if i < cols.len() { c.max } else { c.min };
            let _ = write!(out, "{}{:.1} {:.1}", if i == 0 { "" } else { "L" }, c.x + LEFT, y(v));
        }
        out.push_str(r#"Z"/>"#);
    }
    out.push_str(r#"<polyline class="line" points=""#);
    for (i, c) in cols.iter().enumerate() {
        let _ = write!(out, "{}{:.1},{:.1}", if i == 0 { "" } else { " " }, c.x + LEFT, y(c.value));
    }
    out.push_str(r#""/>"#);
    let _ = write!(
        out,
        r#"<text x="{lx}" y="{ty}" text-anchor="end">{hi}</text><text x="{lx}" y="{by}" text-anchor="end">{lo}</text>"#,
        lx = LEFT - 4.0,
        ty = TOP + 8.0,
        by = TOP + plot_h,
        hi = num(hi),
        lo = num(lo)
    );
    if let (Some(first), Some(last)) = (series.points.first(), series.points.last()) {
        let _ = write!(
            out,
            r#"<text x="{LEFT}" y="{ty}">{}</text><text x="{rx}" y="{ty}" text-anchor="end">{}</text>"#,
            Esc(&clock_label(&first.at)),
            Esc(&clock_label(&last.at)),
            ty = h - 3.0,
            rx = LEFT + plot_w
        );
    }
    if let Some(c) = cols.last() {
        let _ = write!(
            out,
            r#"<text x="{}" y="12" text-anchor="end">last {} {}</text>"#,
            w - RIGHT,
            num(c.value),
            Esc(&series.uom)
        );
    }
    out.push_str("</svg>");
    out
}

/// The readings placed on the x axis (by time when every instant parses, else by
/// order), non-finite ones dropped, and several on one pixel merged.
fn columns(series: &Series, plot_w: f64) -> Vec<Col> {
    let pts: Vec<_> = series
        .points
        .iter()
        .filter(|p| p.value.is_finite())
        .map(|p| {
            let (min, max) =
                (if p.min.is_finite() { p.min } else { p.value }, if p.max.is_finite() { p.max } else { p.value });
            (
                p.at.parse::<Timestamp>().ok(),
                Col { x: 0.0, value: p.value, min: min.min(p.value), max: max.max(p.value) },
            )
        })
        .collect();
    let n = pts.len();
    let times: Option<Vec<f64>> = pts.iter().map(|(t, _)| t.map(|t| t.as_millisecond() as f64)).collect();
    let xs: Vec<f64> = match times {
        Some(ts) if n > 1 && ts[n - 1] > ts[0] => {
            ts.iter().map(|t| (t - ts[0]) / (ts[n - 1] - ts[0]) * plot_w).collect()
        }
        _ if n > 1 => (0..n).map(|i| i as f64 / (n - 1) as f64 * plot_w).collect(),
        _ => vec![plot_w / 2.0; n],
    };
    let mut cols: Vec<Col> = Vec::with_capacity(n.min(plot_w as usize + 1));
    let mut merged = 0.0f64;
    for ((_, c), x) in pts.into_iter().zip(xs) {
        let x = x.round();
        match cols.last_mut() {
            Some(last) if last.x == x => {
                // Mean of the readings on this pixel, extremes of all of them.
                merged += 1.0;
                last.value += (c.value - last.value) / merged;
                last.min = last.min.min(c.min);
                last.max = last.max.max(c.max);
            }
            _ => {
                merged = 1.0;
                cols.push(Col { x, ..c });
            }
        }
    }
    cols
}

/// `05-01 10:00` from an RFC 3339 instant (UTC), or the text as it came.
fn clock_label(at: &str) -> String {
    match at.parse::<Timestamp>() {
        Ok(t) => t.strftime("%m-%d %H:%M").to_string(),
        Err(_) => at.to_string(),
    }
}

/// A short number for an axis: `1.25`, `12.5k`, `3.2M`.
fn num(v: f64) -> String {
    let a = v.abs();
    let (v, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") };
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    let s = if s == "-0" { "0" } else { s };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::history::Point;

    fn series(points: &[(&str, f64, f64, f64)]) -> Series {
        Series {
            label: "rta".into(),
            uom: "ms".into(),
            resolution: "raw".into(),
            points: points.iter().map(|&(at, value, min, max)| Point { at: at.into(), value, min, max }).collect(),
        }
    }

    fn polyline(svg: &str) -> Vec<(f64, f64)> {
        let start = svg.find(r#"points=""#).expect("a line") + 8;
        let end = start + svg[start..].find('"').expect("closing quote");
        svg[start..end]
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').expect("x,y");
                (x.parse().expect("x"), y.parse().expect("y"))
            })
            .collect()
    }

    #[test]
    fn empty_series_says_so() {
        let s = svg(&series(&[]), 300, 80);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("no data") && !s.contains("polyline"));
    }

    #[test]
    fn line_spans_the_plot_by_time() {
        // 0 min, 10 min, 30 min: the middle reading sits a third of the way along.
        let s = svg(
            &series(&[
                ("2024-05-01T10:00:00Z", 1.0, 1.0, 1.0),
                ("2024-05-01T10:10:00Z", 3.0, 3.0, 3.0),
                ("2024-05-01T10:30:00Z", 2.0, 2.0, 2.0),
            ]),
            360,
            100,
        );
        let pts = polyline(&s);
        let plot_w = 360.0 - LEFT - RIGHT;
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[0], (LEFT, TOP + (100.0 - TOP - BOTTOM)), "lowest reading at the bottom left");
        assert_eq!(pts[1], (LEFT + (plot_w / 3.0).round(), TOP), "highest at the top");
        assert_eq!(pts[2].0, LEFT + plot_w);
        assert!(!s.contains("band"), "no band when min = max = value");
        assert!(s.contains(">05-01 10:00<") && s.contains(">05-01 10:30<"), "{s}");
        assert!(s.contains(">last 2 ms<"), "{s}");
    }

    #[test]
    fn extremes_make_a_band_and_bound_the_axis() {
        let s =
            svg(&series(&[("2024-05-01T10:00:00Z", 5.0, 0.0, 10.0), ("2024-05-01T11:00:00Z", 5.0, 4.0, 6.0)]), 300, 80);
        assert!(s.contains(r#"class="band""#));
        assert!(s.contains(r#"text-anchor="end">10</text>"#) && s.contains(r#"text-anchor="end">0</text>"#), "{s}");
    }

    #[test]
    fn flat_and_odd_series_stay_finite() {
        let table: &[&[(&str, f64, f64, f64)]] = &[
            &[("2024-05-01T10:00:00Z", 7.0, 7.0, 7.0)],
            &[("a", 0.0, 0.0, 0.0), ("b", 0.0, 0.0, 0.0)],
            &[("2024-05-01T10:00:00Z", f64::NAN, 0.0, 0.0), ("2024-05-01T10:01:00Z", 1.0, f64::NAN, f64::INFINITY)],
            &[("2024-05-01T10:00:00Z", 1.0, 1.0, 1.0), ("2024-05-01T10:00:00Z", 2.0, 2.0, 2.0)],
        ];
        for points in table {
            let s = svg(&series(points), 200, 60);
            assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
            assert!(!polyline(&s).is_empty(), "{s}");
        }
    }

    #[test]
    fn many_readings_merge_per_pixel() {
        let pts: Vec<Point> = (0..10_000)
            .map(|i| Point {
                at: Timestamp::from_second(1_714_557_600 + i * 9).unwrap().to_string(),
                value: (i % 100) as f64,
                min: 0.0,
                max: 99.0,
            })
            .collect();
        let s = svg(&Series { label: "x".into(), uom: String::new(), resolution: "raw".into(), points: pts }, 400, 80);
        let line = polyline(&s);
        assert!(line.len() <= (400.0 - LEFT - RIGHT) as usize + 1, "{} points", line.len());
        assert!(s.len() < 16_000, "{} bytes", s.len());
    }

    #[test]
    fn labels_are_escaped() {
        let mut s = series(&[("2024-05-01T10:00:00Z", 1.0, 1.0, 1.0)]);
        s.label = "<script>&\"".into();
        s.uom = "<b>".into();
        let out = svg(&s, 200, 60);
        assert!(!out.contains("<script") && !out.contains("<b>"), "{out}");
        assert!(out.contains("&lt;script&gt;&amp;&quot; (&lt;b&gt;)"), "{out}");
    }

    #[test]
    fn numbers() {
        for (v, want) in [
            (0.0, "0"),
            (1.25, "1.25"),
            (1.0 / 3.0, "0.33"),
            (250.4, "250"),
            (12_500.0, "12.5k"),
            (3.2e6, "3.2M"),
            (-0.001, "0"),
        ] {
            assert_eq!(num(v), want, "{v}");
        }
    }
}
