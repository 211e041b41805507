//! Printing the figures: one line per scenario as it finishes, and a final Markdown table
//! meant to be pasted into docs/PERFORMANCE.md.

use std::time::Duration;

use super::db::Backend;
use super::wrk::WrkResult;

/// One measured scenario.
pub struct Row {
    /// The database behind the server.
    pub backend: Backend,
    /// The scenario's label (`baseline`, `hot`, `p99at70 hot @ 1234/s`, …).
    pub label: String,
    /// What wrk measured.
    pub result: WrkResult,
    /// Requests/s divided by the baseline's in the same run (not for rate-paced runs).
    pub ratio_to_s: Option<f64>,
    /// SPEC §12's minimum ratio to S for this scenario, if it has one.
    pub target_ratio: Option<f64>,
    /// The fixed rate asked for, for rate-paced runs.
    pub paced_rate: Option<f64>,
    /// Server CPU over the run, in % of one core (200 % = two cores busy).
    pub cpu_pct: f64,
    /// Server resident memory at the end of the run.
    pub rss_kib: u64,
    /// Database statements per request, when counted.
    pub statements_per_request: Option<f64>,
    /// What the target column says instead of the ratio verdict (million, replicas, soak).
    pub target_note: Option<String>,
    /// Whether 429 answers are the point of the run (the replicas' quota run): they are
    /// then not errors, anything else still is.
    pub refusals_expected: bool,
}

impl Row {
    /// A row for `result` with nothing else filled in yet.
    pub fn new(backend: Backend, label: impl Into<String>, result: WrkResult) -> Row {
        Row {
            backend,
            label: label.into(),
            result,
            ratio_to_s: None,
            target_ratio: None,
            paced_rate: None,
            cpu_pct: 0.0,
            rss_kib: 0,
            statements_per_request: None,
            target_note: None,
            refusals_expected: false,
        }
    }

    /// Whether the run had error responses or socket errors.
    pub fn has_errors(&self) -> bool {
        if self.refusals_expected {
            let r = &self.result;
            let unexpected = r
                .statuses
                .iter()
                .filter(|(status, _)| !matches!(status, 200 | 429))
                .map(|(_, n)| n)
                .sum::<u64>();
            return unexpected > 0 || r.socket_errors > 0;
        }
        self.result.has_errors()
    }

    fn ratio_cell(&self) -> String {
        match (self.ratio_to_s, self.paced_rate) {
            // Far-off ratios keep a third decimal so they do not all read 0.01.
            (Some(r), _) if r < 0.1 => format!("{r:.3}"),
            (Some(r), _) => format!("{r:.2}"),
            (None, Some(rate)) => format!(
                "paced at {rate:.0}/s ({:.0} %)",
                100.0 * self.result.requests_per_sec() / rate
            ),
            (None, None) => "—".into(),
        }
    }

    fn target_cell(&self) -> String {
        if let Some(note) = &self.target_note {
            return note.clone();
        }
        match (self.target_ratio, self.ratio_to_s) {
            (Some(t), Some(r)) => {
                let verdict = if r >= t { "met" } else { "missed" };
                format!("≥ {t:.2} × S: {verdict}")
            }
            _ => "—".into(),
        }
    }

    fn errors_cell(&self) -> String {
        let r = &self.result;
        if self.refusals_expected && !self.has_errors() {
            return format!("{} (429, expected)", r.status_errors);
        }
        match (r.status_errors, r.socket_errors) {
            (0, 0) => "0".into(),
            (s, 0) => format!("**{s}**"),
            (s, e) => format!("**{s} (+{e} socket errors)**"),
        }
    }

    fn statements_cell(&self) -> String {
        match self.statements_per_request {
            // Steady state is meant to be near 0: keep significant digits there.
            Some(s) if s > 0.0 && s < 0.1 => format!("{s:.4}"),
            Some(s) => format!("{s:.2}"),
            None => "n/a".into(),
        }
    }

    /// The one-line summary printed as soon as the scenario finishes.
    pub fn print_line(&self) {
        let r = &self.result;
        println!(
            "[{backend}] {label:<26} {rps:>9.0} req/s  ×S {ratio:<24} p50 {p50:>9}  \
             p99 {p99:>9}  p99.9 {p999:>9}  non-2xx {errors}  CPU {cpu:.0} %  RSS {rss}  \
             stmts/req {stmts}",
            backend = self.backend.as_str(),
            label = self.label,
            rps = r.requests_per_sec(),
            ratio = self.ratio_cell(),
            p50 = ms(r.p50_us),
            p99 = ms(r.p99_us),
            p999 = ms(r.p999_us),
            errors = self.errors_cell().replace("**", ""),
            cpu = self.cpu_pct,
            rss = mib(self.rss_kib),
            stmts = self.statements_cell(),
        );
        if let Some(note) = &self.target_note {
            println!("[{}] {}: {note}", self.backend.as_str(), self.label);
        }
        if self.has_errors() {
            println!(
                "\n!!!!!!!! [{}] {}: {} responses with status >= 400 and {} socket errors or \
                 timeouts: these figures do NOT measure the hot path !!!!!!!!\n",
                self.backend.as_str(),
                self.label,
                r.status_errors,
                r.socket_errors
            );
        }
    }
}

/// The Markdown table of every row.
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| backend | scenario | req/s | × S | SPEC §12 target | p50 | p99 | p99.9 | non-2xx | \
         server CPU (% of 1 core) | server RSS | DB statements / request |\n\
         |---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let r = &row.result;
        out.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |\n",
            row.backend.as_str(),
            row.label,
            r.requests_per_sec(),
            row.ratio_cell(),
            row.target_cell(),
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.p999_us),
            row.errors_cell(),
            row.cpu_pct,
            mib(row.rss_kib),
            row.statements_cell(),
        ));
    }
    out
}

/// Microseconds as milliseconds with a precision that fits the magnitude.
pub fn ms(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// A duration as milliseconds with two decimals whatever its magnitude (`0.42 ms`,
/// `123.46 ms`), unlike [`ms`]: the usage benchmark's latency tables.
pub fn ms_fixed(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// Bytes as KiB with one decimal, or as bytes below 1 KiB.
pub fn kib(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// `10000000` → `10,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_three_significant_digits() {
        assert_eq!(ms(420), "0.42 ms");
        assert_eq!(ms(12_345), "12.3 ms");
        assert_eq!(ms(123_456), "123 ms");
    }

    #[test]
    fn fixed_milliseconds_always_have_two_decimals() {
        assert_eq!(ms_fixed(Duration::from_micros(420)), "0.42 ms");
        assert_eq!(ms_fixed(Duration::from_micros(123_456)), "123.46 ms");
    }

    #[test]
    fn bytes_below_a_kib_stay_bytes() {
        assert_eq!(kib(1023), "1023 B");
        assert_eq!(kib(1536), "1.5 KiB");
    }

    #[test]
    fn groups_digits_by_three() {
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(10_001), "10,001");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(999), "999");
    }
}
