//! The load generator: finding (or installing) `wrk`, running it and reading its figures.
//!
//! Every run uses a Lua script that ends with `bench/report.lua`, whose `done()` prints
//! `BENCH <name> <value>` lines. Parsing those instead of wrk's human table gives p99.9
//! (wrk's `--latency` table stops at p99) and exact integer microseconds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The located load generators.
pub struct Wrk {
    /// The binary for flat-out (closed-loop) runs: `wrk`.
    program: String,
    /// Set when `wrk` on the PATH is really wrk2, which insists on `-R`.
    program_is_wrk2: bool,
    /// A wrk2 for fixed-rate runs, if there is one.
    rate_program: Option<String>,
    /// The name and version from `wrk -v`, for the report.
    pub version: String,
}

/// What `-v` told about one binary.
struct Probe {
    has_rate_flag: bool,
    version: String,
}

/// The `-R` given to wrk2 for a flat-out run: far above anything one machine can serve.
const FLAT_OUT_RATE: f64 = 1e9;

/// One load to apply.
pub struct Load<'a> {
    /// Full URL of the first request (the scripts may send other paths).
    pub url: &'a str,
    /// The Lua script (already composed, see `bench::compose_script`).
    pub script: &'a Path,
    /// How long to run.
    pub duration: Duration,
    /// Open connections.
    pub connections: u32,
    /// wrk threads.
    pub threads: u32,
    /// Fixed total rate (requests/s) for wrk2's `-R`; `None` runs as fast as possible (plain
    /// wrk's rate pacing is in the script instead).
    pub rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    /// Completed requests.
    pub requests: u64,
    /// The run's duration as wrk measured it.
    pub duration_us: u64,
    /// Responses with a status of 400 or more (wrk's "Non-2xx or 3xx" counts those).
    pub status_errors: u64,
    /// Connect, read and write errors plus timeouts.
    pub socket_errors: u64,
    /// Latency percentiles in microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// The slowest response.
    pub max_us: u64,
    /// Responses by HTTP status, when the script counts them (`bench/status.lua`).
    pub statuses: BTreeMap<u16, u64>,
}

impl WrkResult {
    /// Requests per second over the run.
    pub fn requests_per_sec(&self) -> f64 {
        if self.duration_us == 0 {
            return 0.0;
        }
        self.requests as f64 * 1e6 / self.duration_us as f64
    }

    /// Whether anything went wrong that makes the figures suspect.
    pub fn has_errors(&self) -> bool {
        self.status_errors > 0 || self.socket_errors > 0
    }

    /// Two runs that went on at the same time, as one: requests and errors add up, the
    /// duration is the longer one, and each latency percentile is the worse of the two (the
    /// histograms themselves are not available to merge, so this is an upper bound).
    pub fn combined(&self, other: &WrkResult) -> WrkResult {
        let mut statuses = self.statuses.clone();
        for (status, n) in &other.statuses {
            *statuses.entry(*status).or_default() += n;
        }
        WrkResult {
            requests: self.requests + other.requests,
            duration_us: self.duration_us.max(other.duration_us),
            status_errors: self.status_errors + other.status_errors,
            socket_errors: self.socket_errors + other.socket_errors,
            p50_us: self.p50_us.max(other.p50_us),
            p99_us: self.p99_us.max(other.p99_us),
            p999_us: self.p999_us.max(other.p999_us),
            max_us: self.max_us.max(other.max_us),
            statuses,
        }
    }
}

impl Wrk {
    /// Finds `wrk` (installing Debian's package when running as root, or explaining how to
    /// install it and failing) and, for fixed-rate runs, a wrk2 if there is one.
    pub fn locate() -> Result<Wrk> {
        let probe = match Self::probe("wrk") {
            Some(probe) => probe,
            None => {
                Self::install()?;
                Self::probe("wrk").context("wrk was installed but does not run")?
            }
        };
        let rate_program = if probe.has_rate_flag {
            Some("wrk".to_owned())
        } else {
            Self::probe("wrk2")
                .filter(|p| p.has_rate_flag)
                .map(|_| "wrk2".to_owned())
        };
        Ok(Wrk {
            program: "wrk".into(),
            program_is_wrk2: probe.has_rate_flag,
            rate_program,
            version: probe.version,
        })
    }

    /// Whether fixed-rate runs can use wrk2's `-R`.
    pub fn holds_rate(&self) -> bool {
        self.rate_program.is_some()
    }

    fn install() -> Result<()> {
        if !is_root() {
            bail!(
                "wrk is not installed. Install it with `sudo apt-get install -y wrk` \
                 (Debian/Ubuntu) or from https://github.com/wg/wrk, then run again"
            );
        }
        eprintln!("wrk is not installed; running `apt-get install -y wrk` (we are root)");
        if !apt_install_wrk()? {
            // A fresh container often has no package lists yet.
            eprintln!("apt-get install failed; running `apt-get update` and trying again");
            let updated = Command::new("apt-get")
                .args(["update"])
                .status()
                .context("running apt-get update")?;
            if !updated.success() || !apt_install_wrk()? {
                bail!("could not install wrk with apt-get; install it by hand and run again");
            }
        }
        Ok(())
    }

    /// Runs `program -v` and recognises wrk or wrk2 from its usage text (both exit non-zero).
    fn probe(program: &str) -> Option<Probe> {
        let out = Command::new(program)
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !text.contains("Usage: wrk") && !text.contains("wrk ") {
            return None;
        }
        Some(Probe {
            has_rate_flag: text.contains("--rate"),
            // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer" → up to "]".
            version: text
                .lines()
                .next()
                .and_then(|l| l.split(" Copyright").next())
                .unwrap_or(program)
                .trim()
                .to_owned(),
        })
    }

    /// Runs one load and returns its figures. wrk's full output is kept in `log` so a
    /// surprising figure can be checked by hand.
    pub fn run(&self, load: &Load<'_>, log: &Path) -> Result<WrkResult> {
        let (program, mut cmd) = self.command(load)?;
        let out = cmd.output().with_context(|| format!("running {program}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        std::fs::write(log, format!("{stdout}\n--- stderr ---\n{stderr}"))
            .with_context(|| format!("writing {}", log.display()))?;
        if !out.status.success() {
            bail!("{program} failed ({}): {}{}", out.status, stdout, stderr);
        }
        // A Lua error in a per-thread function is printed but does not fail wrk.
        if stderr.contains(".lua") || stdout.contains("PANIC") {
            bail!("the wrk script failed: {stderr}{stdout}");
        }
        parse(&stdout).with_context(|| format!("reading wrk's output (kept in {})", log.display()))
    }

    /// Runs several loads at the same time (one wrk process each) and returns their figures
    /// in the same order.
    pub fn run_parallel(&self, loads: &[(Load<'_>, &Path)]) -> Result<Vec<WrkResult>> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = loads
                .iter()
                .map(|(load, log)| scope.spawn(move || self.run(load, log)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| anyhow::anyhow!("a wrk thread panicked"))?
                })
                .collect()
        })
    }

    /// Starts a load in the background, for traffic whose figures are not wanted (the
    /// caller ends it with [`std::process::Child::kill`] on this child, or lets it run out).
    pub fn spawn(&self, load: &Load<'_>, log: &Path) -> Result<std::process::Child> {
        let (program, mut cmd) = self.command(load)?;
        let log = std::fs::File::create(log)?;
        cmd.stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {program}"))
    }

    fn command(&self, load: &Load<'_>) -> Result<(String, Command)> {
        let (program, rate) = match load.rate {
            Some(rate) => (
                self.rate_program
                    .as_deref()
                    .context("internal: a fixed rate was asked without a wrk2")?,
                Some(rate),
            ),
            // wrk2 refuses to run without -R; a rate it can never reach makes it run flat out.
            None if self.program_is_wrk2 => (self.program.as_str(), Some(FLAT_OUT_RATE)),
            None => (self.program.as_str(), None),
        };
        let mut cmd = Command::new(program);
        cmd.arg("-t")
            .arg(load.threads.to_string())
            .arg("-c")
            .arg(load.connections.to_string())
            .arg("-d")
            .arg(format!("{}s", load.duration.as_secs().max(1)))
            .arg("--latency")
            .arg("-s")
            .arg(load.script);
        if let Some(rate) = rate {
            cmd.arg("-R").arg(format!("{}", rate.round().max(1.0)));
        }
        cmd.arg(load.url).stdin(Stdio::null());
        Ok((program.to_owned(), cmd))
    }
}

fn apt_install_wrk() -> Result<bool> {
    Ok(Command::new("apt-get")
        .args(["install", "-y", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install")?
        .success())
}

/// Whether this process runs as root (the effective uid in /proc/self/status is 0).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Reads the `BENCH <name> <value>` lines printed by `report.lua`.
fn parse(stdout: &str) -> Result<WrkResult> {
    let values: BTreeMap<&str, u64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("BENCH "))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name, value.trim().parse().ok()?))
        })
        .collect();
    let get = |name: &str| -> Result<u64> {
        values
            .get(name)
            .copied()
            .with_context(|| format!("no `BENCH {name}` line"))
    };
    Ok(WrkResult {
        requests: get("requests")?,
        duration_us: get("duration_us")?,
        status_errors: get("status_errors")?,
        socket_errors: get("connect_errors")?
            + get("read_errors")?
            + get("write_errors")?
            + get("timeouts")?,
        p50_us: get("p50_us")?,
        p99_us: get("p99_us")?,
        p999_us: get("p999_us")?,
        max_us: get("max_us")?,
        statuses: values
            .iter()
            .filter_map(|(name, n)| Some((name.strip_prefix("status_")?.parse().ok()?, *n)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_report_lines_and_ignores_the_rest() {
        let out = "Running 5s test @ http://127.0.0.1:1/livez\n\
                   BENCH requests 1000\nBENCH duration_us 2000000\nBENCH status_errors 3\n\
                   BENCH connect_errors 1\nBENCH read_errors 0\nBENCH write_errors 0\n\
                   BENCH timeouts 2\nBENCH p50_us 100\nBENCH p99_us 900\nBENCH p999_us 1500\n\
                   BENCH max_us 2000\nBENCH status_200 997\nBENCH status_429 3\n";
        let r = parse(out).unwrap();
        assert_eq!(r.statuses, BTreeMap::from([(200, 997), (429, 3)]));
        assert_eq!(r.requests_per_sec(), 500.0);
        assert_eq!((r.status_errors, r.socket_errors), (3, 3));
        assert_eq!((r.p50_us, r.p99_us, r.p999_us), (100, 900, 1500));
        assert!(r.has_errors());
    }

    #[test]
    fn a_missing_line_is_an_error() {
        assert!(parse("BENCH requests 1\n").is_err());
    }
}
