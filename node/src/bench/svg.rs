//! A latency-by-percentile chart as hand-written SVG, one line per run, in the style of
//! HdrHistogram's plotter: the x axis stretches the tail (0%, 90%, 99%, 99.9%, ...) on a
//! log scale of 1/(1-p), so p99.99 is as readable as the median.

use super::hgrm::Series;
use std::fmt::Write as _;

const W: f64 = 960.0;
const H: f64 = 540.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round number >= `v` for the top of the y axis, and its tick step.
fn nice_ceiling(v: f64) -> (f64, f64) {
    if v <= 0.0 || !v.is_finite() {
        return (1.0, 0.2);
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            let top = m * mag;
            return (top, top / 5.0);
        }
    }
    (10.0 * mag, 2.0 * mag)
}

/// Renders `series` (milliseconds by percentile) as a standalone SVG document.
pub fn render(title: &str, series: &[Series]) -> String {
    // x = log10(1/(1-p)); the deepest finite percentile decides how far the axis goes.
    let deepest = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.percentile < 1.0)
        .map(|p| (1.0 / (1.0 - p.percentile)).log10())
        .fold(2.0, f64::max);
    let decades = deepest.ceil().clamp(2.0, 7.0);
    let ymax_raw = series.iter().map(Series::max).fold(0.0, f64::max) * 1.05;
    let (ymax, ystep) = nice_ceiling(ymax_raw);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let xpos = |p: f64| {
        let x = if p >= 1.0 {
            decades
        } else {
            (1.0 / (1.0 - p)).log10().min(decades)
        };
        LEFT + x / decades * pw
    };
    let ypos = |v: f64| TOP + ph - (v / ymax).min(1.0) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{}" y="30" text-anchor="middle" font-size="16">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Grid and tick labels.
    let mut y = 0.0;
    while y <= ymax + ystep / 2.0 {
        let py = ypos(y);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            py + 4.0,
            trim_number(y)
        );
        y += ystep;
    }
    for d in 0..=(decades as u32) {
        let p = 1.0 - 10f64.powi(-(d as i32));
        let px = LEFT + f64::from(d) / decades * pw;
        let label = if d == 0 {
            "0%".to_string()
        } else {
            format!("{}%", trim_number(p * 100.0))
        };
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + ph,
            TOP + ph + 18.0
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">Percentile</text>
<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">Latency (ms)</text>"##,
        LEFT + pw / 2.0,
        H - 15.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    // One step line per series: a value holds until the next percentile.
    for (i, ser) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts = String::new();
        let mut last: Option<(f64, f64)> = None;
        for p in &ser.points {
            let (x, y) = (xpos(p.percentile), ypos(p.value));
            if let Some((_, ly)) = last {
                let _ = write!(pts, "{x:.1},{ly:.1} ");
            }
            let _ = write!(pts, "{x:.1},{y:.1} ");
            last = Some((x, y));
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            pts.trim_end(),
            escape(&ser.name)
        );
        let ly = TOP + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 36.0,
            LEFT + 42.0,
            ly + 4.0,
            escape(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim_number(v: f64) -> String {
    let t = format!("{v:.4}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t.is_empty() || t == "-0" {
        "0".to_string()
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::hgrm::Point;
    use super::*;

    fn series(name: &str, scale: f64) -> Series {
        let ps = [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0];
        Series {
            name: name.to_string(),
            points: ps
                .iter()
                .enumerate()
                .map(|(i, &p)| Point {
                    value: scale * (i as f64 + 1.0),
                    percentile: p,
                    total_count: i as u64,
                })
                .collect(),
        }
    }

    #[test]
    fn renders_well_formed_svg_with_one_line_and_legend_per_series() {
        let doc = render(
            "etcd <vs> reefdb & co",
            &[series("a", 1.0), series("b\"2", 2.0)],
        );
        let xml = roxmltree::Document::parse(&doc).expect("well-formed XML");
        let root = xml.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        let lines: Vec<_> = root
            .descendants()
            .filter(|n| n.has_tag_name("polyline"))
            .collect();
        assert_eq!(lines.len(), 2);
        assert_ne!(lines[0].attribute("stroke"), lines[1].attribute("stroke"));
        for l in &lines {
            let pts = l.attribute("points").unwrap();
            for pair in pts.split_whitespace() {
                let (x, y) = pair.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((0.0..=W).contains(&x) && (0.0..=H).contains(&y), "{pair}");
            }
        }
        let texts: Vec<String> = root
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(str::to_string))
            .collect();
        for want in [
            "etcd <vs> reefdb & co",
            "b\"2",
            "99.99%",
            "Latency (ms)",
            "0%",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "missing {want:?} in {texts:?}"
            );
        }
    }

    #[test]
    fn empty_input_still_renders() {
        let doc = render("nothing", &[]);
        roxmltree::Document::parse(&doc).unwrap();
    }

    #[test]
    fn y_axis_tops_are_round() {
        for (v, top) in [
            (0.93, 1.0),
            (1.7, 2.0),
            (2.2, 2.5),
            (4.1, 5.0),
            (730.0, 1000.0),
        ] {
            assert_eq!(nice_ceiling(v).0, top, "{v}");
        }
    }
}
