//! HdrHistogram's percentile-distribution text format (`.hgrm`), written from a latency
//! histogram and read back for charts.
//!
//! The layout follows HdrHistogram's `outputPercentileDistribution` exactly (header,
//! `%12.3f %2.12f %10d %14.2f` rows with the last row lacking the inverse column, and the
//! `#[Mean ...]` footer), because the standard plotters parse it by position. Latencies
//! are recorded in microseconds and written in milliseconds (scaling ratio 1000).

use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Recorded unit per written unit: microseconds in, milliseconds out.
pub const SCALE: f64 = 1000.0;
/// Reporting points per halving of the distance to 100%, HdrHistogram's default.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// One point of a latency-by-percentile curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds.
    pub value: f64,
    /// 0.0 ..= 1.0
    pub percentile: f64,
    pub total_count: u64,
}

/// A named latency-by-percentile curve, from a histogram or an `.hgrm` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

impl Series {
    pub fn from_histogram(name: &str, hist: &Histogram<u64>) -> Series {
        Series {
            name: name.to_string(),
            points: points(hist),
        }
    }

    /// Largest value, in milliseconds.
    pub fn max(&self) -> f64 {
        self.points.iter().map(|p| p.value).fold(0.0, f64::max)
    }
}

fn points(hist: &Histogram<u64>) -> Vec<Point> {
    let mut total = 0u64;
    let mut out = Vec::new();
    if hist.is_empty() {
        return out;
    }
    for v in hist.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += v.count_since_last_iteration();
        out.push(Point {
            value: hist.highest_equivalent(v.value_iterated_to()) as f64 / SCALE,
            percentile: v.quantile_iterated_to(),
            total_count: total,
        });
    }
    out
}

/// HdrHistogram's sub-bucket count for a precision, for the footer.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest_single_unit = 2 * 10u64.pow(u32::from(sigfig));
    largest_single_unit.next_power_of_two()
}

/// The `.hgrm` text of a histogram recorded in microseconds.
pub fn write(hist: &Histogram<u64>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for p in points(hist) {
        if p.percentile < 1.0 {
            let _ = writeln!(
                s,
                "{:12.3} {:2.12} {:10} {:14.2}",
                p.value,
                p.percentile,
                p.total_count,
                1.0 / (1.0 - p.percentile)
            );
        } else {
            let _ = writeln!(
                s,
                "{:12.3} {:2.12} {:10}",
                p.value, p.percentile, p.total_count
            );
        }
    }
    let (mean, stdev, max) = if hist.is_empty() {
        (0.0, 0.0, 0.0)
    } else {
        (
            hist.mean() / SCALE,
            hist.stdev() / SCALE,
            hist.max() as f64 / SCALE,
        )
    };
    let _ = writeln!(s, "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]");
    let _ = writeln!(
        s,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        hist.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        sub_bucket_count(hist.sigfig())
    );
    s
}

/// Reads the curve of an `.hgrm` file (ours or any HdrHistogram implementation's).
pub fn parse(name: &str, text: &str) -> Result<Series, String> {
    let mut points = Vec::new();
    let mut seen_header = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !seen_header {
            if line.starts_with("Value") {
                seen_header = true;
                continue;
            }
            return Err(format!(
                "line {}: expected the Value/Percentile header",
                n + 1
            ));
        }
        let mut cols = line.split_whitespace();
        let mut next = |what: &str| {
            cols.next()
                .ok_or_else(|| format!("line {}: missing {what}", n + 1))
        };
        let value: f64 = next("value")?
            .parse()
            .map_err(|_| format!("line {}: bad value", n + 1))?;
        let percentile: f64 = next("percentile")?
            .parse()
            .map_err(|_| format!("line {}: bad percentile", n + 1))?;
        let total_count: u64 = next("total count")?
            .parse()
            .map_err(|_| format!("line {}: bad total count", n + 1))?;
        if !(0.0..=1.0).contains(&percentile) || !value.is_finite() || value < 0.0 {
            return Err(format!("line {}: value or percentile out of range", n + 1));
        }
        points.push(Point {
            value,
            percentile,
            total_count,
        });
    }
    if !seen_header {
        return Err("no Value/Percentile header: not an .hgrm file".to_string());
    }
    Ok(Series {
        name: name.to_string(),
        points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Histogram<u64> {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for us in 1..=10_000u64 {
            h.record(us).unwrap(); // 1 µs .. 10 ms, uniform
        }
        h
    }

    #[test]
    fn layout_matches_hdrhistogram() {
        let text = write(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       0.001 0.000000000000          1           1.00"
        );
        // Each row: 12-wide value, a space, 14 chars of percentile, 10-wide count.
        let row = lines[5];
        assert_eq!(row.len(), 12 + 1 + 14 + 1 + 10 + 1 + 14, "{row:?}");
        let last_row = lines[lines.len() - 4];
        assert!(last_row.contains(" 1.000000000000 "), "{last_row:?}");
        assert_eq!(last_row.split_whitespace().count(), 3);
        assert_eq!(last_row.split_whitespace().nth(2), Some("10000"));
        let tail = &lines[lines.len() - 3..];
        // HdrHistogram's mean uses each bucket's median-equivalent value.
        assert_eq!(
            tail[0],
            "#[Mean    =        5.001, StdDeviation   =        2.887]"
        );
        assert_eq!(
            tail[1],
            "#[Max     =       10.007, Total count    =        10000]"
        );
        assert!(tail[2].starts_with("#[Buckets = "));
        assert!(tail[2].ends_with("SubBuckets     =         2048]"));
    }

    #[test]
    fn percentiles_rise_and_round_trip() {
        let h = sample();
        let text = write(&h);
        let series = parse("s", &text).unwrap();
        assert_eq!(
            series.points,
            Series::from_histogram("s", &h)
                .points
                .iter()
                .map(|p| Point {
                    value: (p.value * 1000.0).round() / 1000.0,
                    percentile: (p.percentile * 1e12).round() / 1e12,
                    total_count: p.total_count,
                })
                .collect::<Vec<_>>()
        );
        assert!(series
            .points
            .windows(2)
            .all(|w| w[0].percentile <= w[1].percentile
                && w[0].value <= w[1].value
                && w[0].total_count <= w[1].total_count));
        let p50 = series.points.iter().find(|p| p.percentile >= 0.5).unwrap();
        assert!((p50.value - 5.0).abs() < 0.01, "{p50:?}");
        assert_eq!(series.points.last().unwrap().percentile, 1.0);
    }

    #[test]
    fn empty_histograms_and_foreign_text() {
        let empty = Histogram::<u64>::new(3).unwrap();
        let text = write(&empty);
        assert!(parse("e", &text).unwrap().points.is_empty());
        assert!(parse("x", "hello\n1 2 3\n").is_err());
        assert!(parse("x", "").is_err());
        let bad = "       Value     Percentile TotalCount 1/(1-Percentile)\n\n  1.0 1.5 3 0\n";
        assert!(parse("x", bad).is_err());
    }
}
