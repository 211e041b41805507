//! The server under test: building it, running its CLI, starting `serve` as a child process,
//! reading its CPU time and memory from /proc, and a minimal HTTP/1.1 client for readiness,
//! pre-flight checks and the usage benchmark's timed requests (the xtask has no HTTP client
//! dependency, and needs none for that).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Builds `twin-server` in release mode and returns the binary's path.
pub fn build_release(root: &Path) -> Result<PathBuf> {
    eprintln!("building twin-server (release)…");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "-p", "twin-server"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p twin-server failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_relative() {
        root.join(target)
    } else {
        target
    };
    let bin = target.join("release").join("twin-server");
    if !bin.is_file() {
        bail!("built, but {} is not there", bin.display());
    }
    Ok(bin)
}

/// Copies the server binary into the run's directory and returns the copy's path. The
/// benchmark runs the copy: the workspace is shared, and a rebuild by someone else in the
/// middle of a run must not change the server between scenarios (SQLite's statement
/// uprobes are also set on this private copy, so nothing else ever hits them).
pub fn private_copy(bin: &Path, dir: &Path) -> Result<PathBuf> {
    let copy = dir.join("twin-server");
    std::fs::copy(bin, &copy)
        .with_context(|| format!("copying {} to {}", bin.display(), copy.display()))?;
    Ok(copy)
}

/// A free TCP port on the loopback interface. The port is released before the server binds
/// it; another process could take it in between, which would show as a failed start.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// How the server binary is configured: always through its environment, as in production.
#[derive(Clone)]
pub struct ServerEnv {
    /// The server binary.
    pub bin: PathBuf,
    /// `TWIN_DATABASE_URL`.
    pub database_url: String,
    /// The loopback address for `TWIN_BIND`.
    pub addr: SocketAddr,
    /// `TWIN_WORKERS` (the server's default when `None`).
    pub workers: Option<u32>,
    /// Further variables a benchmark sets (e.g. `TWIN_USAGE_RETENTION_DAYS`).
    pub extra: Vec<(&'static str, String)>,
    /// How long [`Self::start`] waits for `/livez` to answer 200.
    pub ready_timeout: Duration,
}

impl ServerEnv {
    /// `bin` on `database_url` at `addr`, with the server's default workers, no further
    /// variables and 60 s to get ready.
    pub fn new(bin: &Path, database_url: String, addr: SocketAddr) -> ServerEnv {
        ServerEnv {
            bin: bin.to_owned(),
            database_url,
            addr,
            workers: None,
            extra: Vec::new(),
            ready_timeout: Duration::from_secs(60),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            // Only the variables the benchmark means to set reach the server; a developer's
            // own TWIN_* settings (a pepper, a config file, plans) would skew the figures.
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TWIN_DATABASE_URL", &self.database_url)
            .env("TWIN_BIND", self.addr.to_string())
            // Logging every request at info level would measure the logger.
            .env("TWIN_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(workers) = self.workers {
            cmd.env("TWIN_WORKERS", workers.to_string());
        }
        cmd.envs(self.extra.iter().map(|(name, value)| (name, value)));
        cmd
    }

    /// Runs a one-shot subcommand (`migrate`, `demo --json`) and returns its standard output.
    pub fn run_cli(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .output()
            .with_context(|| format!("running twin-server {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "twin-server {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Runs a subcommand that prints one JSON object (`demo --json`, `key create … --json`)
    /// and returns the object.
    pub fn run_cli_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        serde_json::from_str(self.run_cli(args)?.trim())
            .with_context(|| format!("parsing `twin-server {}`", args.join(" ")))
    }

    /// Migrates the database and creates the demo owner and its key with the binary's own
    /// CLI (`migrate`, then `demo --json`).
    pub fn migrate_and_demo(&self) -> Result<Demo> {
        self.run_cli(&["migrate"])?;
        let demo = self.run_cli_json(&["demo", "--json"])?;
        Ok(Demo {
            owner_id: json_field(&demo, "ownerId")?,
            key: json_field(&demo, "key")?,
            key_id: json_field(&demo, "keyId")?,
        })
    }

    /// Starts `twin-server serve` with its log in `log` and waits until `/livez` answers 200.
    pub fn start(&self, log: &Path) -> Result<Server> {
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = self
            .command(&["serve"])
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting twin-server serve")?;
        let mut server = Server {
            child,
            addr: self.addr,
            log: log.to_owned(),
        };
        server.wait_ready(self.ready_timeout)?;
        Ok(server)
    }
}

/// What `twin-server demo --json` created.
pub struct Demo {
    /// The demo owner's id.
    pub owner_id: String,
    /// The demo key (plaintext).
    pub key: String,
    /// The demo key's id.
    pub key_id: String,
}

/// The string field `name` of a CLI's JSON output.
pub fn json_field(value: &serde_json::Value, name: &str) -> Result<String> {
    value[name]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("the CLI printed no {name}: {value}"))
}

/// A running `twin-server serve`. Dropping it kills the process.
pub struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "twin-server exited early ({status}); its log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok((200, _)) = http_get(self.addr, "/livez", &[]) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!("twin-server did not answer /livez within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id (for /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User plus system CPU time of the whole process (all threads) so far, in clock ticks.
    pub fn cpu_ticks(&self) -> Result<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .context("reading /proc/<pid>/stat")?;
        // The command name (field 2) is in parentheses and may hold spaces, so count the
        // fields from the last ')': utime and stime are fields 14 and 15 of the line.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("malformed /proc/<pid>/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11).context("no utime")?.parse()?;
        let stime: u64 = fields.get(12).context("no stime")?.parse()?;
        Ok(utime + stime)
    }

    /// Resident memory in KiB (VmRSS).
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("reading /proc/<pid>/status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .context("no VmRSS line")?
            .parse()
            .context("parsing VmRSS")
    }

    /// Stops the server the way an orchestrator would (SIGTERM, then SIGKILL after 10 s),
    /// so it closes its database connections normally.
    pub fn stop(mut self) -> Result<()> {
        // std offers only SIGKILL; `kill` sends SIGTERM to this one child by its pid.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("twin-server did not stop within 10 s of SIGTERM; killing it");
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // After a normal stop() this is a no-op on an already reaped child.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second for /proc CPU times (`getconf CLK_TCK`, 100 on Linux in practice).
pub fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// One `GET` over a fresh connection; returns the status and the body (headers dropped).
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<(u16, String)> {
    http_request(addr, "GET", path, headers)
}

/// One request without a body over a fresh connection; returns the status and the body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, String)> {
    let response = http_exchange(addr, method, path, headers, Duration::from_secs(10))?;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    Ok((response.status, body))
}

/// One timed response.
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The body, decoded if it came chunked.
    pub body: Vec<u8>,
    /// From before the connect to the last byte of the response.
    pub elapsed: Duration,
}

/// One request without a body over a fresh connection (`Connection: close`), read to the
/// end with each read given at most `read_timeout`, and timed from before the connect to
/// the last byte.
pub fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    read_timeout: Duration,
) -> Result<Response> {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(read_timeout))?;
    // The request goes out in one write, which Nagle's algorithm never holds back: no need
    // for TCP_NODELAY.
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let elapsed = started.elapsed();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of HTTP headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok(Response {
        status,
        body,
        elapsed,
    })
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(data.get(..size).context("truncated chunk")?);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunks() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
    }
}
