//! Inline SVG charts for the report: a bar chart and a line chart over the iterations, with axes, tick
//! labels and a `<title>` tooltip on every mark. Plain SVG, no script, nothing fetched.
//!
//! Every bar is a `rect` of class `bar` with `data-iteration`; every line point a `circle` of class
//! `point` (tests and the browser's DOM count them).

use maud::{Markup, html};

/// Width of the SVG coordinate space (the element scales to its container).
const W: f64 = 960.0;
/// Height of the SVG coordinate space.
const H: f64 = 250.0;
/// Height of a chart with nothing to show (all values zero): the axis and a note.
const H_EMPTY: f64 = 96.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 14.0;
const MARGIN_BOTTOM: f64 = 44.0;
/// At most this many x-axis labels; the others are skipped evenly.
const MAX_X_LABELS: usize = 20;

/// One mark of a chart.
#[derive(Debug, Clone)]
pub struct Point {
    /// The iteration number (x-axis label).
    pub iteration: u64,
    /// The value (y).
    pub value: f64,
    /// Tooltip text.
    pub tip: String,
    /// Extra CSS class of the mark (e.g. the outcome, to colour the bar).
    pub class: &'static str,
    /// Parts of a bar stacked bottom-up, each `(value, CSS class)`, summing to `value`; empty for a
    /// plain bar. Drawn as `rect`s of class `seg` over the bar (which keeps its tooltip).
    pub parts: Vec<(f64, &'static str)>,
}

/// What a chart shows and how its numbers read.
pub struct Chart<'a> {
    /// The `id` of the `<svg>` element.
    pub id: &'a str,
    /// Accessible label of the chart.
    pub label: &'a str,
    /// The y-axis title (with its unit).
    pub y_title: &'a str,
    /// Formats a y value for a tick label.
    pub fmt: fn(f64) -> String,
    /// Shown inside the plot when there is nothing to draw (no points, or all values zero).
    pub empty_note: &'a str,
}

struct Frame {
    n: usize,
    top: f64,
    ticks: Vec<f64>,
    /// Height of the SVG.
    h: f64,
    /// True when every value is zero (or there are none).
    nothing: bool,
}

impl Frame {
    fn new(points: &[Point]) -> Self {
        let max = points.iter().map(|p| p.value).fold(0.0_f64, f64::max);
        let nothing = max <= 0.0 || !max.is_finite();
        let (top, ticks) = nice_ticks(max);
        Frame {
            n: points.len(),
            top,
            // An empty chart is short and has only the zero tick.
            ticks: if nothing { vec![0.0] } else { ticks },
            h: if nothing { H_EMPTY } else { H },
            nothing,
        }
    }
    fn plot_w(&self) -> f64 {
        W - MARGIN_LEFT - MARGIN_RIGHT
    }
    fn plot_h(&self) -> f64 {
        self.h - MARGIN_TOP - MARGIN_BOTTOM
    }
    fn slot(&self) -> f64 {
        self.plot_w() / self.n.max(1) as f64
    }
    fn x_center(&self, i: usize) -> f64 {
        MARGIN_LEFT + self.slot() * (i as f64 + 0.5)
    }
    fn y(&self, v: f64) -> f64 {
        MARGIN_TOP + self.plot_h() - (v.max(0.0) / self.top) * self.plot_h()
    }
}

/// A bar per point.
pub fn bars(chart: &Chart<'_>, points: &[Point]) -> Markup {
    let f = Frame::new(points);
    let bar_w = (f.slot() * 0.72).clamp(1.0, 48.0);
    let base = f.y(0.0);
    html! {
        svg id=(chart.id) class="chart" viewBox=(format!("0 0 {W} {}", f.h)) role="img" aria-label=(chart.label) {
            (axes(chart, &f, points))
            @for (i, p) in points.iter().enumerate() {
                @let y = f.y(p.value);
                // A value too small to see still gets a hairline, so a bar is never invisible.
                @let h = if p.value > 0.0 { (base - y).max(1.5) } else { 0.0 };
                @let x = r1(f.x_center(i) - bar_w / 2.0);
                rect class=(format!("bar {}", p.class)) data-iteration=(p.iteration)
                    x=(x) y=(r1(base - h)) width=(r1(bar_w)) height=(r1(h)) rx="2" {
                    title { (p.tip) }
                }
                @if p.value > 0.0 {
                    @for (y0, y1, class) in stack(&f, base, h, p) {
                        rect class=(format!("seg {class}")) x=(x) y=(r1(y1)) width=(r1(bar_w)) height=(r1(y0 - y1)) {}
                    }
                }
            }
        }
    }
}

/// The segments of a stacked bar of height `h` standing on `base`: `(bottom y, top y, class)`, scaled so
/// they fill the bar exactly.
fn stack(f: &Frame, base: f64, h: f64, p: &Point) -> Vec<(f64, f64, &'static str)> {
    let total: f64 = p.parts.iter().map(|(v, _)| v.max(0.0)).sum();
    if total <= 0.0 || f.top <= 0.0 {
        return Vec::new();
    }
    let mut y = base;
    p.parts
        .iter()
        .filter(|(v, _)| *v > 0.0)
        .map(|(v, class)| {
            let part = h * v / total;
            let seg = (y, y - part, *class);
            y -= part;
            seg
        })
        .collect()
}

/// A line through the points, with a dot on each.
pub fn line(chart: &Chart<'_>, points: &[Point]) -> Markup {
    let f = Frame::new(points);
    let coords: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, p)| (f.x_center(i), f.y(p.value)))
        .collect();
    let path: String = coords
        .iter()
        .map(|(x, y)| format!("{},{}", r1(*x), r1(*y)))
        .collect::<Vec<_>>()
        .join(" ");
    let area = match (coords.first(), coords.last()) {
        (Some(first), Some(last)) => format!(
            "{},{} {path} {},{}",
            r1(first.0),
            r1(f.y(0.0)),
            r1(last.0),
            r1(f.y(0.0))
        ),
        _ => String::new(),
    };
    let dot = if points.len() > 60 { 1.5 } else { 3.5 };
    html! {
        svg id=(chart.id) class="chart" viewBox=(format!("0 0 {W} {}", f.h)) role="img" aria-label=(chart.label) {
            (axes(chart, &f, points))
            @if !points.is_empty() {
                polygon class="area" points=(area) {}
                polyline class="line" points=(path) {}
                @for (p, (x, y)) in points.iter().zip(&coords) {
                    circle class="point" data-iteration=(p.iteration) cx=(r1(*x)) cy=(r1(*y)) r=(dot) {
                        title { (p.tip) }
                    }
                }
            }
        }
    }
}

fn axes(chart: &Chart<'_>, f: &Frame, points: &[Point]) -> Markup {
    let every = points.len().div_ceil(MAX_X_LABELS).max(1);
    let bottom = f.y(0.0);
    html! {
        g class="grid" {
            @for t in &f.ticks {
                line x1=(MARGIN_LEFT) x2=(W - MARGIN_RIGHT) y1=(r1(f.y(*t))) y2=(r1(f.y(*t))) {}
            }
        }
        g class="ticks y" {
            @for t in &f.ticks {
                text x=(MARGIN_LEFT - 8.0) y=(r1(f.y(*t) + 4.0)) text-anchor="end" { ((chart.fmt)(*t)) }
            }
        }
        line class="axis" x1=(MARGIN_LEFT) x2=(W - MARGIN_RIGHT) y1=(r1(bottom)) y2=(r1(bottom)) {}
        g class="ticks x" {
            @for (i, p) in points.iter().enumerate() {
                @if i % every == 0 {
                    text x=(r1(f.x_center(i))) y=(r1(bottom + 16.0)) text-anchor="middle" { (p.iteration) }
                }
            }
        }
        text class="axis-title" x=(MARGIN_LEFT + f.plot_w() / 2.0) y=(f.h - 6.0) text-anchor="middle" { "iteration" }
        @if f.nothing {
            text class="empty" x=(MARGIN_LEFT + f.plot_w() / 2.0) y=(r1(MARGIN_TOP + f.plot_h() / 2.0 - 6.0))
                text-anchor="middle" { (chart.empty_note) }
        } @else {
            text class="axis-title" transform=(format!("translate(14 {}) rotate(-90)", r1(MARGIN_TOP + f.plot_h() / 2.0)))
                text-anchor="middle" { (chart.y_title) }
        }
    }
}

/// A "nice" axis top (≥ `max`) and its ticks (0 included): steps of 1, 2, 2.5 or 5 × 10^k, 3 to 6 ticks.
pub fn nice_ticks(max: f64) -> (f64, Vec<f64>) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let count = (max / step).ceil().max(1.0) as usize;
    let ticks = (0..=count).map(|i| i as f64 * step).collect::<Vec<_>>();
    (count as f64 * step, ticks)
}

/// Rounded to one decimal for compact SVG.
fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                iteration: i as u64 + 1,
                value: *v,
                tip: format!("<b>{v}</b>"),
                class: "success",
                parts: Vec::new(),
            })
            .collect()
    }

    const CHART: Chart<'static> = Chart {
        id: "c",
        label: "l",
        y_title: "seconds",
        fmt: |v| format!("{v}"),
        empty_note: "nothing",
    };

    #[test]
    fn one_bar_per_point_and_tooltips_are_escaped() {
        let svg = bars(&CHART, &pts(&[1.0, 0.0, 3.5])).into_string();
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 3, "{svg}");
        assert!(svg.contains("data-iteration=\"3\""));
        assert!(svg.contains("&lt;b&gt;3.5&lt;/b&gt;") && !svg.contains("<b>"));
        assert!(!svg.contains("nothing"), "values present: no empty note");
    }

    #[test]
    fn the_tallest_bar_reaches_at_most_the_top_of_the_plot() {
        let svg = bars(&CHART, &pts(&[7.0, 3.0])).into_string();
        let rect = svg.split("<rect class=\"bar success\"").nth(1).unwrap();
        let y: f64 = rect
            .split(" y=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let h: f64 = rect
            .split(" height=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(y >= MARGIN_TOP - 0.05, "{y}");
        assert!(
            (y + h - (H - MARGIN_BOTTOM)).abs() < 0.2,
            "the bar stands on the axis"
        );
        // 7 on an axis to 8: seven eighths of the plot height.
        assert!(
            (h - (H - MARGIN_TOP - MARGIN_BOTTOM) * 7.0 / 8.0).abs() < 0.2,
            "{h}"
        );
    }

    #[test]
    fn a_stacked_bar_is_split_in_proportion_and_keeps_one_bar_rect() {
        let mut p = pts(&[8.0]);
        p[0].parts = vec![(2.0, "in"), (0.0, "none"), (6.0, "out")];
        let svg = bars(&CHART, &p).into_string();
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 1);
        assert_eq!(
            svg.matches("<rect class=\"seg ").count(),
            2,
            "zero parts are not drawn"
        );
        let height = |class: &str| -> f64 {
            let r = svg
                .split(&format!("<rect class=\"seg {class}\""))
                .nth(1)
                .unwrap();
            r.split(" height=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert!((height("out") / height("in") - 3.0).abs() < 0.05);
    }

    #[test]
    fn nice_ticks_are_round_numbers() {
        assert_eq!(nice_ticks(7.0), (8.0, vec![0.0, 2.0, 4.0, 6.0, 8.0]));
        assert_eq!(nice_ticks(0.0).0, 1.0);
        assert_eq!(nice_ticks(f64::NAN).0, 1.0);
        let (top, ticks) = nice_ticks(0.0123);
        assert!(top >= 0.0123 && ticks.len() <= 7, "{top} {ticks:?}");
        let (top, ticks) = nice_ticks(123_456.0);
        assert!(top >= 123_456.0 && ticks.len() <= 7, "{top} {ticks:?}");
    }

    #[test]
    fn a_line_has_a_point_per_value_and_an_empty_chart_says_so() {
        let svg = line(&CHART, &pts(&[0.1, 0.3, 0.6, 1.0])).into_string();
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 4);
        assert!(svg.contains("<polyline class=\"line\""));
        let empty = line(&CHART, &[]).into_string();
        assert!(empty.contains("nothing") && !empty.contains("polyline"));
        let zeros = bars(&CHART, &pts(&[0.0, 0.0])).into_string();
        assert!(zeros.contains("nothing"));
    }

    #[test]
    fn many_iterations_get_at_most_twenty_x_labels() {
        let svg = bars(&CHART, &pts(&vec![1.0; 250])).into_string();
        let labels = svg
            .split("<g class=\"ticks x\">")
            .nth(1)
            .unwrap()
            .split("</g>")
            .next()
            .unwrap();
        assert!(
            labels.matches("<text").count() <= MAX_X_LABELS + 1,
            "{labels}"
        );
        assert_eq!(svg.matches("<rect class=\"bar ").count(), 250);
    }
}
