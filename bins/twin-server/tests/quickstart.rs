//! The README quickstart, end to end: `demo` provisions a key, `serve` answers, and the
//! integration snippets of `docs/examples/` (curl, Node.js, Python) get the prompt with only
//! the base URL and key given to them. On SQLite (the quickstart's default) and PostgreSQL.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use twin_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_twin-server");

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples")
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("TWIN_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("TWIN_DATABASE_URL", url).env("TWIN_LOG", "warn");
    cmd
}

/// Whether a tool the snippets need is installed; in CI every one must be.
fn have(program: &str, check: &[&str]) -> bool {
    let found = Command::new(program)
        .args(check)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{program} is needed to check the quickstart snippets"
        );
        eprintln!("skipping the {program} snippet: {program} is not installed");
    }
    found
}

async fn the_quickstart_and_its_snippets_work(db: TestDb) {
    // 1. `demo --json` provisions an owner, a ready sample twin and a key.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let out = command(db.url())
        .args(["demo", "--json", "--base-url", &base])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = demo["key"].as_str().unwrap().to_owned();
    assert_eq!(demo["baseUrl"], base.as_str());
    assert!(key.starts_with("atk_live_"));

    // 2. `serve` (the default command).
    let _server = Server(
        command(db.url())
            .env("TWIN_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/livez")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 3. The README's curl line.
    let res = client
        .get(format!(
            "{base}/v1/public/twin/preset/estandar?format=json&lang=en"
        ))
        .header("X-Twin-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(body["systemPrompt"].as_str().unwrap().contains("Lucía"));

    // The snippets, with only the base URL and the key set.
    let snippets: [(&str, &[&str], &str, &[&str]); 3] = [
        ("bash", &["--version"], "quickstart.sh", &[]),
        ("node", &["--version"], "quickstart.mjs", &[]),
        ("python3", &["-c", "import requests"], "quickstart.py", &[]),
    ];
    for (program, check, file, extra) in snippets {
        if program == "bash" && !have("curl", &["--version"]) {
            continue;
        }
        if !have(program, check) {
            continue;
        }
        let out = Command::new(program)
            .arg(examples().join(file))
            .args(extra)
            .env("TWIN_BASE_URL", &base)
            .env("TWIN_KEY", &key)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("Lucía Navarro Pardo"),
            "{file} printed: {stdout}"
        );
    }
}

twin_store::backend_tests!(the_quickstart_and_its_snippets_work);
