//! A graceful stop (SIGTERM or SIGINT) loses no usage entry: after a flood of requests, the
//! server is stopped before its next flush, and every answered request is in the log.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use twin_store::testing::TestDb;
use twin_store::{Store, StoreConfig};

const BIN: &str = env!("CARGO_BIN_EXE_twin-server");
const FLOOD: usize = 400;

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

async fn stop_with(db: &TestDb, signal: &str) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let out = command(db.url()).args(["demo", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demo: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = demo["key"].as_str().unwrap().to_owned();
    let key_id = demo["keyId"].as_str().unwrap().to_owned();
    // The demo key's 60 requests per minute would refuse most of the flood; lift it.
    let store = Store::connect(StoreConfig::new(db.url())).await.unwrap();
    store
        .update_key(
            "demo",
            &key_id,
            twin_store::KeyPatch {
                rate_limit_rpm: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let mut child = command(db.url())
        .env("TWIN_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/livez")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!("{base}/v1/public/twin/preset/estandar?format=json");
    let answers =
        join_all((0..FLOOD).map(|_| client.get(&url).header("X-Twin-Key", &key).send())).await;
    let answered = answers
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 200))
        .count();
    assert_eq!(answered, FLOOD, "every request of the flood is served");
    drop(answers);
    drop(client);
    // Stop at once: well before the 500 ms flush interval has passed for the last entries.
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop after {signal}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "a graceful stop exits 0: {exit:?}");

    let logged: i64 = store
        .key_daily_usage(&key_id, None)
        .await
        .unwrap()
        .iter()
        .map(|d| d.calls)
        .sum();
    assert_eq!(logged, FLOOD as i64, "no usage entry is lost");
    let raw = store.recent_calls(&key_id, 1000).await.unwrap().len();
    assert_eq!(raw, FLOOD, "the raw log has every call");
    let key = store.find_key(&key_id).await.unwrap();
    assert_eq!(key.usage_count, FLOOD as i64);
}

async fn sigterm_flushes_every_usage_entry(db: TestDb) {
    stop_with(&db, "-TERM").await;
}

async fn sigint_flushes_every_usage_entry(db: TestDb) {
    stop_with(&db, "-INT").await;
}

twin_store::backend_tests!(
    sigterm_flushes_every_usage_entry,
    sigint_flushes_every_usage_entry
);
