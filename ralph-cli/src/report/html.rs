//! The report as one self-contained HTML page: inline CSS and SVG, no script, no external resource.
//! All text goes through maud, which escapes it.

use super::chart::{self, Chart, Point};
use super::model::{Report, Tokens};
use maud::{DOCTYPE, Markup, PreEscaped, html};

const CSS: &str = include_str!("report.css");

/// The page for `r`.
pub fn render(r: &Report) -> String {
    let title = format!("ralph run {}", r.run.run_id);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No network: forbid every fetch, allow only the inline style and images.
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    (header(r))
                    (cards(r))
                    (limits(r))
                    (charts(r))
                    (iterations(r))
                    (checkpoints(r))
                    footer {
                        "Made by ralph " (r.ralph_version) " on " (time(Some(r.generated_at_unix))) ". "
                        "Secrets are masked (****). Times are UTC."
                    }
                }
            }
        }
    }
    .into_string()
}

fn header(r: &Report) -> Markup {
    // A finished run's badge takes the colour of how it finished, like the stop-reason box.
    let status_class = match (r.run.status.as_str(), stop_class(r)) {
        ("finished", "good") => "badge status-finished".to_string(),
        ("finished", "warn") => "badge status-stopped".to_string(),
        ("finished", _) => "badge status-failed".to_string(),
        (other, _) => format!("badge status-{other}"),
    };
    html! {
        header class="top" {
            div class="eyebrow" { "ralph run report" }
            h1 { (r.run.run_id) }
            div class="meta" {
                span class=(status_class) { (r.run.status) }
                span { "agent " strong { (or_dash(&r.run.agent)) } }
                span { "started " (time(r.run.started_at_unix)) }
                span { "last update " (time(r.run.updated_at_unix)) }
            }
            div class=(format!("stop {}", stop_class(r))) id="stop-reason" {
                span class="label" { "Stop reason" }
                span { (r.run.stop_reason_text) }
            }
        }
    }
}

fn stop_class(r: &Report) -> &'static str {
    match r.run.stop_reason.as_ref().map(|s| {
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_default()
    }) {
        Some(k) if k == "completed" => "good",
        Some(k) if k.starts_with("max_") || k == "rate_limited" || k == "interrupted" => "warn",
        Some(_) => "bad",
        None => "neutral",
    }
}

fn cards(r: &Report) -> Markup {
    let t = &r.totals;
    let outcomes = OUTCOMES
        .iter()
        .filter_map(|k| {
            t.outcomes
                .get(*k)
                .map(|v| format!("{v} {}", k.replace('_', " ")))
        })
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        section class="cards" id="totals" {
            div class="card" {
                div class="k" { "Iterations" }
                div class="v" { (t.iterations) }
                div class="s" { (if outcomes.is_empty() { "none recorded".to_string() } else { outcomes }) }
            }
            div class="card" {
                div class="k" { "Tokens" }
                div class="v" { (tokens(t.tokens.billable as f64)) }
                div class="s" {
                    "input " (tokens(t.tokens.input as f64)) " · output " (tokens(t.tokens.output as f64)) br;
                    "cache write " (tokens(t.tokens.cache_creation as f64)) " · cache read " (tokens(t.tokens.cache_read as f64))
                }
            }
            div class="card" {
                div class="k" { "Cost" }
                div class="v" { (usd(t.cost_usd)) @if t.cost_estimated { " " span class="est" { "estimated" } } }
                div class="s" { @if t.cost_estimated { "priced by ralph's table" } @else { "as reported by the agent" } }
            }
            div class="card" {
                div class="k" { "Runtime" }
                div class="v" { (secs(t.runtime_secs)) }
                div class="s" { "wall clock, over restarts" }
            }
        }
    }
}

fn token_kinds(t: &Tokens) -> String {
    format!(
        "input {} · output {} · cache write {} · cache read {}",
        tokens(t.input as f64),
        tokens(t.output as f64),
        tokens(t.cache_creation as f64),
        tokens(t.cache_read as f64)
    )
}

fn limits(r: &Report) -> Markup {
    let t = &r.totals;
    html! {
        section id="limits" {
            h2 { "Limits" }
            @match &r.limits {
                None => p class="muted" { "Not recorded for this run (state written by an older ralph, or an earlier run)." },
                Some(l) => {
                    table class="limits" {
                        tbody {
                            (limit_row("Iterations", t.iterations as f64, l.max_iterations.map(|v| v as f64), |v| format!("{v:.0}")))
                            (limit_row("Runtime", t.runtime_secs, l.max_runtime_secs, secs))
                            (limit_row("Tokens", t.tokens.billable as f64, l.max_tokens.map(|v| v as f64), tokens))
                            (limit_row("Cost", t.cost_usd, l.max_cost_usd, usd))
                            tr {
                                th { "Consecutive failures" }
                                td class="num" { "at most " (l.max_retries) " tolerated" }
                                td {}
                            }
                        }
                    }
                }
            }
        }
    }
}

fn limit_row(name: &str, used: f64, limit: Option<f64>, fmt: fn(f64) -> String) -> Markup {
    let ratio = limit
        .filter(|l| *l > 0.0)
        .map(|l| (used / l).clamp(0.0, 1.0));
    let level = match ratio {
        Some(x) if x >= 1.0 => "full",
        Some(x) if x >= 0.8 => "high",
        _ => "ok",
    };
    html! {
        tr {
            th { (name) }
            td class="num" {
                (fmt(used)) " of " @match limit { Some(l) => (fmt(l)), None => "no limit" }
            }
            td class="meter-cell" {
                @if let Some(x) = ratio {
                    div class=(format!("meter {level}")) title=(format!("{:.0} %", x * 100.0)) {
                        div style=(format!("width:{:.1}%", x * 100.0)) {}
                    }
                }
            }
        }
    }
}

fn charts(r: &Report) -> Markup {
    let it = &r.iterations;
    let durations: Vec<Point> = it
        .iter()
        .map(|i| Point {
            iteration: i.iteration,
            value: i.duration_secs,
            tip: format!(
                "Iteration {}: {} ({})",
                i.iteration,
                secs(i.duration_secs),
                i.outcome_detail
            ),
            class: outcome_class(&i.outcome),
            parts: Vec::new(),
        })
        .collect();
    let toks: Vec<Point> = it
        .iter()
        .map(|i| Point {
            iteration: i.iteration,
            value: i.tokens.billable as f64,
            tip: format!(
                "Iteration {}: {} tokens ({})",
                i.iteration,
                tokens(i.tokens.billable as f64),
                token_kinds(&i.tokens)
            ),
            class: "tokens",
            parts: vec![
                (i.tokens.input as f64, "t-input"),
                (i.tokens.cache_creation as f64, "t-cache"),
                (i.tokens.output as f64, "t-output"),
            ],
        })
        .collect();
    let cost: Vec<Point> = it
        .iter()
        .map(|i| Point {
            iteration: i.iteration,
            value: i.cumulative_cost_usd,
            tip: format!(
                "After iteration {}: {} (this iteration {})",
                i.iteration,
                usd(i.cumulative_cost_usd),
                usd(i.cost_usd)
            ),
            class: "",
            parts: Vec::new(),
        })
        .collect();
    let used: Vec<&str> = [
        "success",
        "failed",
        "timed_out",
        "rate_limited",
        "cancelled",
    ]
    .into_iter()
    .filter(|o| it.iter().any(|i| i.outcome == *o))
    .collect();
    html! {
        section id="charts" {
            h2 { "Per iteration" }
            div class="chart-box" {
                div class="chart-head" {
                    h3 { "Duration" }
                    div class="legend" {
                        @for o in &used {
                            span { i class=(format!("sw {}", outcome_class(o))) {} (o.replace('_', " ")) }
                        }
                    }
                }
                (chart::bars(&Chart { id: "chart-duration", label: "Duration of each iteration, seconds",
                    y_title: "seconds", fmt: axis_secs, empty_note: "No iterations recorded" }, &durations))
            }
            div class="chart-box" {
                div class="chart-head" {
                    h3 { "Tokens" }
                    div class="legend" {
                        span { i class="sw t-input" {} "input" }
                        span { i class="sw t-cache" {} "cache write" }
                        span { i class="sw t-output" {} "output" }
                        span { "(cache reads not counted)" }
                    }
                }
                (chart::bars(&Chart { id: "chart-tokens", label: "Tokens of each iteration",
                    y_title: "tokens", fmt: tokens, empty_note: "No token usage reported by the agent" }, &toks))
            }
            div class="chart-box" {
                div class="chart-head" {
                    h3 { "Cumulative cost" }
                    @if r.totals.cost_estimated { span class="est" { "estimated" } }
                }
                (chart::line(&Chart { id: "chart-cost", label: "Cumulative cost after each iteration, USD",
                    y_title: "USD", fmt: axis_usd, empty_note: "No cost reported by the agent" }, &cost))
            }
        }
    }
}

/// The outcome labels, in the order the report lists them.
const OUTCOMES: [&str; 5] = [
    "success",
    "failed",
    "timed_out",
    "rate_limited",
    "cancelled",
];

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "success" => "o-success",
        "failed" => "o-failed",
        "timed_out" => "o-timed_out",
        "rate_limited" => "o-rate_limited",
        _ => "o-cancelled",
    }
}

/// Longest message shown in the table; the rest is cut with an ellipsis.
const MESSAGE_CHARS: usize = 400;

fn iterations(r: &Report) -> Markup {
    html! {
        section id="iterations" {
            h2 { "Iterations" }
            @if r.iterations.is_empty() {
                p class="muted" { "No iteration recorded." }
            } @else {
                div class="table-wrap" {
                    table class="iterations" {
                        thead {
                            tr {
                                th class="num" { "#" } th { "Started" } th { "Outcome" } th { "Agent" }
                                th class="num" { "Duration" } th class="num" { "Tokens" } th class="num" { "Cost" }
                                th { "Checkpoint" } th { "Message" }
                            }
                        }
                        tbody {
                            @for i in &r.iterations {
                                tr class="iteration" data-iteration=(i.iteration) {
                                    td class="num" { (i.iteration) }
                                    td class="nowrap" { (time(Some(i.started_at_unix))) }
                                    td {
                                        span class=(format!("pill {}", outcome_class(&i.outcome))) title=(i.outcome_detail) {
                                            (i.outcome.replace('_', " "))
                                        }
                                        @if i.completed { " " span class="pill done" { "completed" } }
                                    }
                                    td { (i.agent) }
                                    td class="num" { (secs(i.duration_secs)) }
                                    td class="num" title=(token_kinds(&i.tokens)) { (tokens(i.tokens.billable as f64)) }
                                    td class="num" { (usd(i.cost_usd)) @if i.cost_estimated { "*" } }
                                    td { @if let Some(c) = &i.checkpoint { code title=(c) { (short(c)) } } @else { span class="muted" { "—" } } }
                                    td class="msg" {
                                        @if let Some(m) = &i.message {
                                            (cut(m, MESSAGE_CHARS))
                                        } @else if i.outcome != "success" {
                                            span class="muted" { (i.outcome_detail) @if let Some(c) = i.exit_code { ", exit " (c) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if r.iterations.iter().any(|i| i.cost_estimated) {
                    p class="muted small" { "* estimated cost" }
                }
            }
        }
    }
}

fn checkpoints(r: &Report) -> Markup {
    html! {
        section id="checkpoints" {
            h2 { "Checkpoints" }
            @if r.checkpoints.is_empty() {
                p class="muted" { "No git checkpoints for this run." }
            } @else {
                ul class="checkpoints" {
                    @for c in &r.checkpoints {
                        li {
                            code title=(c.id) { (short(&c.id)) }
                            span { "after iteration " (c.iteration) }
                            @if c.is_final { span class="pill done" { "final" } }
                            @if let Some(t) = c.time_unix { span class="muted" { (time(u64::try_from(t).ok())) } }
                            @if let Some(n) = c.files_changed { span class="muted" { (n) " file" @if n != 1 { "s" } " changed" } }
                            @if let Some(rf) = &c.reference { span class="muted" { "on " (rf) } }
                        }
                    }
                }
                p class="muted small" { "Restore one with " code { "ralph rollback ID" } "." }
            }
        }
    }
}

/// The first 12 characters of a checkpoint id.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "—" } else { s }
}

/// `2026-12-02 07:38:56 UTC`, or `—`.
pub fn time(unix: Option<u64>) -> String {
    unix.and_then(|u| i64::try_from(u).ok())
        .and_then(|u| jiff::Timestamp::from_second(u).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".into())
}

/// `0.42 s`, `12.3 s`, `4m 05s`, `2h 03m`.
pub fn secs(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            (s % 3600.0 / 60.0) as u64
        )
    }
}

fn axis_secs(s: f64) -> String {
    if s == 0.0 {
        "0".into()
    } else if s < 1.0 {
        format!("{s:.2} s")
    } else if s < 120.0 {
        format!("{} s", trim(s))
    } else if s < 7200.0 {
        format!("{} min", trim(s / 60.0))
    } else {
        format!("{} h", trim(s / 3600.0))
    }
}

/// `950`, `12.3k`, `4.56M`.
pub fn tokens(n: f64) -> String {
    if n < 1000.0 {
        format!("{n:.0}")
    } else if n < 1_000_000.0 {
        format!("{}k", trim((n / 1000.0 * 10.0).round() / 10.0))
    } else {
        format!("{}M", trim((n / 1_000_000.0 * 100.0).round() / 100.0))
    }
}

/// `$0.0123`, `$1.50`.
pub fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 1.0 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

fn axis_usd(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v < 1.0 && (v * 100.0 - (v * 100.0).round()).abs() < 1e-9 {
        format!("${v:.2}")
    } else {
        format!("${}", trim(v))
    }
}

/// A number without trailing zeros (`2.5`, `10`, `0.005`).
fn trim(v: f64) -> String {
    let s = format!("{:.4}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::model::{FORMAT, IterationRow, RunInfo, Totals};
    use super::*;

    fn report(messages: &[&str]) -> Report {
        let iterations = messages
            .iter()
            .enumerate()
            .map(|(i, m)| IterationRow {
                iteration: i as u64 + 1,
                started_at_unix: 1_795_996_800 + i as u64 * 60,
                outcome: if i % 2 == 0 { "success" } else { "failed" }.into(),
                outcome_detail: if i % 2 == 0 {
                    "success"
                } else {
                    "failed (exit code)"
                }
                .into(),
                agent: "command".into(),
                duration_secs: 1.0 + i as f64,
                tokens: Tokens {
                    input: 100,
                    output: 50,
                    cache_creation: 0,
                    cache_read: 10,
                    billable: 150,
                },
                cost_usd: 0.01,
                cost_estimated: true,
                cumulative_cost_usd: 0.01 * (i + 1) as f64,
                exit_code: Some(0),
                completed: false,
                checkpoint: Some("0123456789abcdef0123".into()),
                message: Some(m.to_string()),
            })
            .collect::<Vec<_>>();
        Report {
            format: FORMAT.into(),
            generated_at_unix: 1_795_996_900,
            ralph_version: "0.1.0".into(),
            run: RunInfo {
                run_id: "20261130-000000-abcd".into(),
                agent: "command".into(),
                status: "finished".into(),
                current: true,
                stop_reason: Some(ralph_core::StopReason::MaxIterations { limit: 3 }),
                stop_reason_text: "max iterations reached (3)".into(),
                started_at_unix: Some(1_795_996_800),
                updated_at_unix: Some(1_795_996_900),
            },
            limits: None,
            totals: Totals {
                iterations: iterations.len() as u64,
                tokens: Tokens::default(),
                cost_usd: 0.03,
                cost_estimated: true,
                runtime_secs: 6.0,
                outcomes: Default::default(),
            },
            iterations,
            checkpoints: Vec::new(),
        }
    }

    #[test]
    fn agent_text_is_escaped_everywhere() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"' & done";
        let mut r = report(&[evil, "ok"]);
        r.run.agent = "<b>agent</b>".into();
        r.run.stop_reason_text = "</style><script>x()</script>".into();
        let page = render(&r);
        assert!(!page.contains("<script"), "no script element may appear");
        assert!(!page.contains("<img"), "no injected element");
        assert!(!page.contains("<b>agent"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;/style&gt;"));
    }

    #[test]
    fn one_row_and_one_bar_per_iteration() {
        let page = render(&report(&["a", "b", "c", "d"]));
        assert_eq!(page.matches("<tr class=\"iteration\"").count(), 4);
        let duration = page
            .split("id=\"chart-duration\"")
            .nth(1)
            .unwrap()
            .split("</svg>")
            .next()
            .unwrap();
        assert_eq!(duration.matches("<rect class=\"bar ").count(), 4);
        let cost = page.split("id=\"chart-cost\"").nth(1).unwrap();
        assert_eq!(
            cost.split("</svg>")
                .next()
                .unwrap()
                .matches("class=\"point\"")
                .count(),
            4
        );
        assert!(page.contains("estimated"));
        assert!(page.contains("max iterations reached (3)"));
        assert!(page.contains("0123456789ab") && !page.contains(">0123456789abcdef0123<"));
    }

    #[test]
    fn the_page_refers_to_nothing_outside_itself() {
        let page = render(&report(&["see https://example.com/x"]));
        // The only URL is the one the agent wrote, as text.
        assert_eq!(page.matches("://").count(), 1);
        for attr in ["src=", "href=", "url(", "@import"] {
            assert!(!page.contains(attr), "{attr} in page");
        }
        assert!(page.contains("default-src 'none'"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(tokens(950.0), "950");
        assert_eq!(tokens(12_345.0), "12.3k");
        assert_eq!(tokens(4_560_000.0), "4.56M");
        assert_eq!(usd(0.01234), "$0.0123");
        assert_eq!(usd(1.5), "$1.50");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(secs(0.4213), "0.42 s");
        assert_eq!(secs(245.0), "4m 05s");
        assert_eq!(secs(7380.0), "2h 03m");
        assert_eq!(axis_secs(0.5), "0.50 s");
        assert_eq!(axis_secs(300.0), "5 min");
        assert_eq!(axis_usd(0.5), "$0.50");
        assert_eq!(axis_usd(0.005), "$0.005");
        assert_eq!(axis_usd(2.0), "$2");
        assert_eq!(time(Some(1_795_996_800)), "2026-11-30 00:00:00 UTC");
        assert_eq!(cut("abcdef", 3), "abc…");
    }
}
