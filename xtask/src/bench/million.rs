//! The `million` scenario (SPEC §12: "verify with 1 million stored keys vs 1,000: within
//! 10 %"). On a database of its own, in one run:
//!
//! 1. 1,000 keys stored (the demo key and 999 generated): `hot` with the demo key;
//! 2. 10,001 stored (the 10,000 keys of `many` are now all in): `many`;
//! 3. 1,000,000 stored, bulk-loaded (COPY on PostgreSQL, one transaction of multi-row
//!    INSERTs on SQLite) and the load timed: `hot` and `many` again, with the same keys.
//!
//! `many` needs its 10,000 keys stored, so its small-store reference is 10,001 stored keys,
//! not 1,000. Each figure also gets its ratio to the S of the same run.

use std::time::Instant;

use anyhow::{Result, bail};

use super::db::{self, BenchDb, KeyLimits, KeyLoader};
use super::report::{Row, thousands};
use super::{BackendRun, Provision, Scenario, Traffic};

/// Stored keys for the reference measurement of `hot`.
const SMALL_STORE: usize = 1_000;

/// Keys generated and streamed to the database client at a time.
const LOAD_CHUNK: usize = 50_000;

/// SPEC §12: within 10 %.
const TOLERANCE: f64 = 0.10;

/// Runs the scenario; returns its rows and its verdict notes.
pub(super) fn run(
    parent: &BackendRun<'_>,
    baseline_rps: Option<f64>,
) -> Result<(Vec<Row>, Vec<String>)> {
    let options = parent.options;
    let backend = parent.backend;
    let name = backend.as_str();
    let dir = parent.dir.join("million");
    std::fs::create_dir_all(&dir)?;
    let database = BenchDb::create(backend, &dir, &options.pg_url, super::DB_NAME)?;
    let mut run = BackendRun::prepare(parent.bench, &dir, &database, Provision::none())?;
    let total = options.million;
    let many = db::generate_keys(options.keys, &mut run.stored_ids)?;
    let small = (SMALL_STORE - 1).min(many.len());

    let mut rows = Vec::new();
    let mut measure = |run: &BackendRun<'_>, scenario: Scenario, stored: usize| -> Result<f64> {
        let traffic = match scenario {
            Scenario::Hot => Traffic::HotKey,
            _ => Traffic::ManyKeys,
        };
        let label = format!(
            "million: {}, {} keys stored",
            scenario.name(),
            thousands(stored as u64)
        );
        let mut row = run.measure(&label, &traffic, None)?;
        let rps = row.result.requests_per_sec();
        row.ratio_to_s = baseline_rps.map(|s| rps / s);
        row.print_line();
        rows.push(row);
        Ok(rps)
    };

    // 1. A thousand keys.
    load(&database, &run.owner_id, &many[..small])?;
    let hot_small_stored = count(&database)?;
    let hot_small = measure(&run, Scenario::Hot, hot_small_stored)?;
    // 2. The many keys all stored.
    load(&database, &run.owner_id, &many[small..])?;
    run.use_many_keys(&many)?;
    let many_small_stored = count(&database)?;
    let many_small = measure(&run, Scenario::Many, many_small_stored)?;

    // 3. A million.
    let started = Instant::now();
    let mut loader = KeyLoader::begin(&database, &run.owner_id)?;
    let mut left = total.saturating_sub(run.stored_ids.len());
    while left > 0 {
        let chunk = db::generate_keys(left.min(LOAD_CHUNK), &mut run.stored_ids)?;
        loader.keys(&chunk, KeyLimits::UNLIMITED)?;
        left -= chunk.len();
    }
    let added = loader.inserted;
    loader.finish()?;
    let load_secs = started.elapsed().as_secs_f64();
    let stored = count(&database)?;
    if stored != total {
        bail!("{stored} keys stored after the bulk load, not {total}");
    }
    let load_note = format!(
        "{name}: million: generated (SHA-256 like the server) and bulk-loaded {} keys with \
         their counter rows in {load_secs:.1} s ({:.0} keys/s, {}), {} stored in all.",
        thousands(added as u64),
        added as f64 / load_secs,
        match backend {
            db::Backend::Postgres => "COPY FROM STDIN through psql, then VACUUM ANALYZE",
            db::Backend::Sqlite => "multi-row INSERTs of 500 in one transaction through sqlite3",
        },
        thousands(stored as u64),
    );
    println!("{load_note}");
    let hot_large = measure(&run, Scenario::Hot, stored)?;
    let many_large = measure(&run, Scenario::Many, stored)?;

    let mut notes = vec![load_note];
    let mut verdict = |what: &str, large: f64, small: f64, small_stored: usize, row: usize| {
        let ratio = large / small;
        let met = (ratio - 1.0).abs() <= TOLERANCE;
        let text = format!(
            "{} stored vs {}: {ratio:.3} (within 10 %: {})",
            thousands(stored as u64),
            thousands(small_stored as u64),
            if met { "met" } else { "missed" }
        );
        rows[row].target_note = Some(text.clone());
        let note = format!(
            "{name}: million: {what}: {large:.0} req/s with {} keys stored vs {small:.0} with \
             {}: ratio {ratio:.3}; SPEC §12 within 10 %: {}.",
            thousands(stored as u64),
            thousands(small_stored as u64),
            if met { "met" } else { "missed" }
        );
        println!("{note}");
        notes.push(note);
    };
    verdict("hot", hot_large, hot_small, hot_small_stored, 2);
    verdict(
        "many (10,000 keys)",
        many_large,
        many_small,
        many_small_stored,
        3,
    );
    Ok((rows, notes))
    // The million database is dropped here.
}

/// Inserts `keys` (no limits) in one transaction.
fn load(database: &BenchDb, owner_id: &str, keys: &[db::GeneratedKey]) -> Result<()> {
    let mut loader = KeyLoader::begin(database, owner_id)?;
    loader.keys(keys, KeyLimits::UNLIMITED)?;
    loader.finish()
}

/// Keys stored, by the database itself.
fn count(database: &BenchDb) -> Result<usize> {
    let text = database.query("SELECT count(*) FROM api_keys")?;
    Ok(text.trim().parse()?)
}
