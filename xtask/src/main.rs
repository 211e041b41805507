//! Project automation: `cargo xtask <command>`.
//!
//! - `ci` — the checks CI runs besides fmt, clippy and the tests: the crate dependency
//!   direction and OpenAPI drift.
//! - `deps` — only the dependency-direction check.
//! - `openapi generate|check` — write or compare `openapi/openapi.json`.
//! - `bench http [options]` — the server's HTTP benchmark (SPEC §12); see `bench/mod.rs`.
//! - `bench usage [options]` — the usage endpoints with a large log (SPEC §12); see
//!   `bench/usage.rs`.

mod bench;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["ci"] => {
            check_dependency_direction()?;
            openapi(false)
        }
        ["deps"] => check_dependency_direction(),
        ["openapi", "generate"] => openapi(true),
        ["openapi", "check"] => openapi(false),
        ["bench", "usage", rest @ ..] => bench::usage::run(rest),
        ["bench", rest @ ..] => bench::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 ci                  dependency direction + OpenAPI drift\n  \
                 deps                dependency direction only\n  \
                 openapi generate    write openapi/openapi.json from the code\n  \
                 openapi check       fail if openapi/openapi.json differs from the code\n  \
                 bench http [...]    HTTP benchmark of the release server (--help for options)\n  \
                 bench usage [...]   usage endpoints with a 10M-row log (--help for options)"
            );
            bail!("unknown command: {}", args.join(" "));
        }
    }
}

fn workspace_root() -> PathBuf {
    // `cargo xtask` (cargo run) sets CARGO_MANIFEST_DIR for the process: prefer it to the
    // directory compiled in, which is another checkout's when a target directory is shared.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .unwrap_or(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Crates each workspace member must NOT reach through normal (non-dev) dependencies.
/// This is the architecture invariant of docs/ARCHITECTURE.md, checked mechanically.
fn forbidden() -> BTreeMap<&'static str, &'static [&'static str]> {
    const PURE: &[&str] = &[
        "diesel",
        "diesel-async",
        "actix-web",
        "tokio",
        "twin-store",
        "twin-core",
        "twin-http",
        "twin-server",
    ];
    BTreeMap::from([
        ("twin-keys", PURE),
        ("twin-meter", PURE),
        ("twin-render", PURE),
        // twin-store may reach utoipa through its optional `utoipa` feature (the OpenAPI
        // schemas of its wire enums, which twin-core turns on), never the web.
        (
            "twin-store",
            &["actix-web", "utoipa-actix-web", "twin-http", "twin-server"][..],
        ),
        // The application core reaches diesel through twin-store but never names it
        // (DIRECT_ONLY), and knows nothing of the web.
        (
            "twin-core",
            &["actix-web", "utoipa-actix-web", "twin-http", "twin-server"][..],
        ),
        // twin-http reaches diesel through twin-store, but never names it (DIRECT_ONLY).
        ("twin-http", &["twin-server"][..]),
    ])
}

/// Crates that may name diesel / actix-web as a direct dependency.
const DIRECT_ONLY: &[(&str, &str)] = &[
    ("diesel", "twin-store"),
    ("diesel-async", "twin-store"),
    ("actix-web", "twin-http"),
];

fn check_dependency_direction() -> Result<()> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let name_of = |id: &str| -> String {
        meta["packages"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id))
            .and_then(|p| p["name"].as_str())
            .unwrap_or(id)
            .to_owned()
    };
    // Normal dependency edges by package name.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"]
        .as_array()
        .context("no resolve graph")?
    {
        let from = name_of(node["id"].as_str().unwrap_or_default());
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if normal {
                edges
                    .entry(from.clone())
                    .or_default()
                    .insert(name_of(dep["pkg"].as_str().unwrap_or_default()));
            }
        }
    }
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_owned()];
        while let Some(n) = stack.pop() {
            for d in edges.get(&n).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        seen
    };
    let mut problems = Vec::new();
    for (krate, banned) in forbidden() {
        let reached = reach(krate);
        for b in banned {
            if reached.contains(*b) {
                problems.push(format!("{krate} must not depend on {b} (directly or not)"));
            }
        }
    }
    let members: Vec<String> = meta["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str())
        .map(name_of)
        .collect();
    for (dep, owner) in DIRECT_ONLY {
        for m in &members {
            if m != owner && edges.get(m).is_some_and(|d| d.contains(*dep)) {
                problems.push(format!(
                    "only {owner} may depend on {dep} directly, but {m} does"
                ));
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "dependency direction violated:\n  {}",
            problems.join("\n  ")
        );
    }
    println!(
        "dependency direction: ok ({} members checked)",
        members.len()
    );
    Ok(())
}

fn openapi(write: bool) -> Result<()> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "twin-server",
            "--",
            "openapi",
        ])
        .output()
        .context("running twin-server openapi")?;
    if !out.status.success() {
        bail!(
            "twin-server openapi failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let generated = String::from_utf8(out.stdout)?;
    let path = workspace_root().join("openapi/openapi.json");
    if write {
        std::fs::write(&path, &generated)?;
        println!("wrote {}", path.display());
        return Ok(());
    }
    let committed =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    if committed != generated {
        bail!(
            "openapi/openapi.json is out of date: run `cargo xtask openapi generate` and commit it"
        );
    }
    println!("openapi: committed spec matches the code");
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The architecture invariants hold for the workspace as it is (the same check as
    /// `cargo xtask deps`, run by a plain `cargo test`).
    #[test]
    fn dependency_direction_holds() {
        super::check_dependency_direction().unwrap();
    }
}
