//! Calls per day as an SVG bar chart drawn by the server: successes and errors stacked, with
//! a text alternative, so it needs no script and no chart library.

use maud::{Markup, html};
use twin_core::reports::activity::ChartDay;

const WIDTH: i64 = 600;
const HEIGHT: i64 = 160;
const TOP: i64 = 10;
const BOTTOM: i64 = 20;

/// The chart of `days` (oldest first); `label` names it for screen readers.
pub fn calls_per_day(days: &[ChartDay], label: &str, ok: &str, errors: &str) -> Markup {
    let max = days
        .iter()
        .map(|d| d.ok + d.errors)
        .max()
        .unwrap_or(0)
        .max(1);
    let n = days.len().max(1) as i64;
    let slot = WIDTH / n;
    let bar = (slot - 4).max(2);
    let plot = HEIGHT - TOP - BOTTOM;
    let height = |calls: i64| calls * plot / max;
    let summary: Vec<String> = days
        .iter()
        .filter(|d| d.ok + d.errors > 0)
        .map(|d| format!("{}: {} {ok}, {} {errors}", d.day.date(), d.ok, d.errors))
        .collect();
    html! {
        figure {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { (label) }
                desc id="chart-desc" {
                    @if summary.is_empty() { "0" } @else { (summary.join("; ")) }
                }
                line.axis x1="0" y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) {}
                @for (i, day) in days.iter().enumerate() {
                    @let x = i as i64 * slot + 2;
                    @let ok_h = height(day.ok);
                    @let err_h = height(day.errors);
                    @let base = HEIGHT - BOTTOM;
                    @if ok_h > 0 {
                        rect.ok x=(x) y=(base - ok_h) width=(bar) height=(ok_h) {}
                    }
                    @if err_h > 0 {
                        rect.err x=(x) y=(base - ok_h - err_h) width=(bar) height=(err_h) {}
                    }
                    @let label = format!("{:02}-{:02}", u8::from(day.day.month()), day.day.day());
                    @if i + 1 == days.len() {
                        text x=(x + bar) y=(HEIGHT - 5) text-anchor="end" { (label) }
                    } @else if i % 7 == 0 && i + 4 <= days.len() {
                        text x=(x) y=(HEIGHT - 5) { (label) }
                    }
                }
                text x="2" y=(TOP + 2) { (max) }
            }
            figcaption.legend {
                span { span.swatch.ok {} (ok) }
                span { span.swatch.err {} (errors) }
            }
        }
    }
}
