//! The server limits glibc to one malloc arena (by re-executing itself with
//! `MALLOC_ARENA_MAX=1`) unless the operator chose a value.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_twin-server");

/// Starts `twin-server serve` on a fresh SQLite file and waits until it accepts connections.
fn serve(dir: &std::path::Path, arena_max: Option<&str>) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("TWIN_") || name == "MALLOC_ARENA_MAX" {
            cmd.env_remove(name);
        }
    }
    if let Some(value) = arena_max {
        cmd.env("MALLOC_ARENA_MAX", value);
    }
    let child = cmd
        .arg("serve")
        .env(
            "TWIN_DATABASE_URL",
            format!("sqlite://{}", dir.join("db.sqlite").display()),
        )
        .env("TWIN_BIND", format!("127.0.0.1:{port}"))
        .env("TWIN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

/// The `MALLOC_ARENA_MAX` the running process (by its PID) has in its environment.
fn arena_max_of(child: &Child) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    environ
        .split(|b| *b == 0)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find_map(|v| v.strip_prefix("MALLOC_ARENA_MAX=").map(str::to_owned))
}

#[test]
fn the_server_runs_with_one_malloc_arena_under_its_own_pid() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = serve(dir.path(), None);
    assert_eq!(arena_max_of(&child).as_deref(), Some("1"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_operator_setting_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = serve(dir.path(), Some("4"));
    assert_eq!(arena_max_of(&child).as_deref(), Some("4"));
    child.kill().unwrap();
    child.wait().unwrap();
}
