//! The operator CLI (`owner`, `key`, `twin import`, `login-link`): the built binary run
//! against a fresh database, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use twin_store::testing::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_twin-server");

/// Runs the binary on `url` with a clean environment of `TWIN_*` settings.
fn run(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("TWIN_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args)
        .env("TWIN_DATABASE_URL", url)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run twin-server")
}

fn ok(db: &TestDb, args: &[&str]) -> String {
    let out = run(db.url(), args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    stdout
}

fn ok_json(db: &TestDb, args: &[&str]) -> Value {
    let stdout = ok(db, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Runs a command that must fail; returns its one-line error.
fn fails(url: &str, args: &[&str]) -> String {
    let out = run(url, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{args:?} printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let line = stderr.trim_end();
    assert!(line.starts_with("error: "), "{line}");
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    line.to_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn the_cli_manages_owners_keys_twins_and_login_links(db: TestDb) {
    // Owners.
    let owner = ok_json(
        &db,
        &[
            "owner",
            "create",
            "--email",
            "ana@example.com",
            "--plan",
            "professional",
            "--id",
            "ana",
            "--json",
        ],
    );
    assert_eq!(owner["ownerId"], "ana");
    assert_eq!(owner["plan"], "professional");
    assert_eq!(owner["status"], "provisioned");
    assert!(owner.get("apiKey").is_none());
    let err = fails(
        db.url(),
        &[
            "owner",
            "create",
            "--email",
            "ana@example.com",
            "--plan",
            "professional",
            "--id",
            "ana",
        ],
    );
    assert!(err.contains("CONFLICT"), "{err}");
    let err = fails(
        db.url(),
        &[
            "owner",
            "create",
            "--email",
            "x@example.com",
            "--plan",
            "gold",
        ],
    );
    assert!(
        err.contains("plan") && err.contains("allowed: free, professional"),
        "{err}"
    );

    // Keys: create prints the plaintext once; listings never show it or a hash.
    let created = ok_json(
        &db,
        &[
            "key",
            "create",
            "ana",
            "--name",
            "crm",
            "--scopes",
            "twin:read,keys:read",
            "--monthly-quota",
            "100",
            "--json",
        ],
    );
    let plaintext = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    assert!(
        plaintext.starts_with(&format!("atk_live_{key_id}_")),
        "{plaintext}"
    );
    assert!(created["warning"].is_string());
    assert_eq!(created["scopes"], json!(["twin:read", "keys:read"]));
    assert_eq!(created["monthlyQuota"], 100);
    let err = fails(
        db.url(),
        &["key", "create", "ana", "--name", "x", "--scopes", "admin"],
    );
    assert!(err.contains("scopes"), "{err}");
    let err = fails(db.url(), &["key", "create", "nobody", "--name", "x"]);
    assert_eq!(err, "error: no owner `nobody`");

    let listed = ok(&db, &["key", "list", "ana", "--json"]);
    assert!(
        !listed.contains(&plaintext) && !listed.contains(&plaintext[18..]),
        "{listed}"
    );
    assert!(!listed.to_lowercase().contains("hash"), "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], key_id.as_str());
    assert_eq!(listed[0]["status"], "active");
    assert!(listed[0].get("key").is_none());
    let human = ok(&db, &["key", "list", "ana"]);
    assert!(
        human.contains(&key_id) && !human.contains(&plaintext),
        "{human}"
    );

    // Revoke, then filter by status.
    let revoked = ok_json(&db, &["key", "revoke", "ana", &key_id, "--json"]);
    assert_eq!(revoked["id"], key_id.as_str());
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revokedAt"].is_string());
    assert_eq!(
        ok_json(
            &db,
            &["key", "list", "ana", "--status", "revoked", "--json"]
        )
        .as_array()
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        ok_json(&db, &["key", "list", "ana", "--status", "active", "--json"]),
        json!([])
    );
    let err = fails(db.url(), &["key", "revoke", "ana", "deadbeef"]);
    assert_eq!(err, "error: owner `ana` has no key `deadbeef`");

    // Rotate: a new plaintext; the old key gets a grace period.
    let second = ok_json(
        &db,
        &[
            "key", "create", "ana", "--name", "ci", "--env", "test", "--json",
        ],
    );
    let rotated = ok_json(
        &db,
        &[
            "key",
            "rotate",
            "ana",
            second["id"].as_str().unwrap(),
            "--grace-period-seconds",
            "60",
            "--json",
        ],
    );
    assert!(rotated["key"].as_str().unwrap().starts_with("atk_test_"));
    assert_ne!(rotated["id"], second["id"]);
    assert_eq!(rotated["rotatedFrom"], second["id"]);
    assert!(rotated["oldKeyExpiresAt"].is_string());

    // Alert settings: on create, then shown and changed with `key alerts`.
    let watched = ok_json(
        &db,
        &[
            "key",
            "create",
            "ana",
            "--name",
            "watched",
            "--alert-thresholds",
            "90,50",
            "--alerts",
            r#"{"failures":{"threshold":5,"period":"hour"}}"#,
            "--json",
        ],
    );
    assert_eq!(watched["alertThresholds"], serde_json::json!([50, 90]));
    assert_eq!(watched["alerts"]["failures"]["threshold"], 5);
    let id = watched["id"].as_str().unwrap();
    let shown = ok_json(&db, &["key", "alerts", "ana", id, "--json"]);
    assert_eq!(shown["alertThresholds"], serde_json::json!([50, 90]));
    let changed = ok_json(
        &db,
        &[
            "key",
            "alerts",
            "ana",
            id,
            "--default-thresholds",
            "--no-rules",
            "--json",
        ],
    );
    assert_eq!(
        (
            changed["alertThresholds"].clone(),
            changed["alerts"].clone()
        ),
        (serde_json::json!([80, 100]), Value::Null)
    );
    let none = ok_json(
        &db,
        &["key", "alerts", "ana", id, "--thresholds", "none", "--json"],
    );
    assert_eq!(none["alertThresholds"], serde_json::json!([]));
    let err = fails(
        db.url(),
        &["key", "alerts", "ana", id, "--thresholds", "150"],
    );
    assert!(err.contains("alertThresholds"), "{err}");
    ok(&db, &["key", "revoke", "ana", id]);

    // Twin import: a valid document becomes a ready snapshot; invalid ones are refused with
    // the JSON path of the first problem.
    let dir = tempfile::tempdir().unwrap();
    let valid = write(dir.path(), "twin.json", twin_render::SAMPLE_TWIN_JSON);
    let meta = ok_json(
        &db,
        &[
            "twin",
            "import",
            "ana",
            &valid,
            "--purchase-id",
            "order-1",
            "--json",
        ],
    );
    assert_eq!(meta["status"], "ready");
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["source"], "import");
    assert_eq!(meta["purchaseId"], "order-1");
    let pending = ok_json(
        &db,
        &[
            "twin", "import", "ana", &valid, "--status", "pending", "--json",
        ],
    );
    assert_eq!(
        (pending["status"].as_str(), pending["version"].as_i64()),
        (Some("pending"), Some(2))
    );

    let mut doc: Value = serde_json::from_str(twin_render::SAMPLE_TWIN_JSON).unwrap();
    doc["sections"][0]["key"] = json!("Not A Key");
    let invalid = write(dir.path(), "invalid.json", &doc.to_string());
    let err = fails(db.url(), &["twin", "import", "ana", &invalid]);
    assert!(
        err.contains("invalid.json is not a valid twin document: at /sections/0/key"),
        "{err}"
    );
    let broken = write(dir.path(), "broken.json", "{\"schemaVersion\": 1,");
    let err = fails(db.url(), &["twin", "import", "ana", &broken]);
    assert!(err.contains("invalid JSON at line 1"), "{err}");
    let err = fails(
        db.url(),
        &[
            "twin",
            "import",
            "ana",
            &dir.path().join("missing.json").to_string_lossy(),
        ],
    );
    assert!(err.contains("missing.json"), "{err}");
    let err = fails(db.url(), &["twin", "import", "nobody", &valid]);
    assert_eq!(err, "error: no owner `nobody`");

    // Login links.
    let link = ok_json(
        &db,
        &[
            "login-link",
            "ana",
            "--base-url",
            "https://twin.example.com/",
            "--json",
        ],
    );
    let url = link["url"].as_str().unwrap();
    let token = url
        .strip_prefix("https://twin.example.com/dashboard/login?token=")
        .expect(url);
    assert_eq!(token.len(), 64);
    assert!(link["expiresAt"].is_string());
    let human = ok(&db, &["login-link", "ana"]);
    assert!(human.contains("/dashboard/login?token="), "{human}");

    // Show and set-plan.
    let view = ok_json(&db, &["owner", "show", "ana", "--json"]);
    assert_eq!(view["activeKeys"], 2, "{view}");
    assert_eq!(view["snapshotCount"], 2);
    assert_eq!(view["plan"]["slug"], "professional");
    let view = ok_json(&db, &["owner", "set-plan", "ana", "free", "--json"]);
    assert_eq!(view["plan"]["slug"], "free");
    assert_eq!(view["plan"]["apiAccess"], false);
    let err = fails(db.url(), &["key", "create", "ana", "--name", "x"]);
    assert!(err.contains("PLAN_REQUIRED"), "{err}");
    let human = ok(&db, &["owner", "show", "ana"]);
    assert!(
        human.contains("free") && human.contains("ana@example.com"),
        "{human}"
    );
    let err = fails(db.url(), &["owner", "show", "nobody"]);
    assert_eq!(err, "error: no owner `nobody`");

    // --issue-key prints the first key once.
    let bo = ok_json(
        &db,
        &[
            "owner",
            "create",
            "--email",
            "bo@example.com",
            "--plan",
            "professional",
            "--issue-key",
            "--json",
        ],
    );
    assert!(
        bo["apiKey"]["key"]
            .as_str()
            .unwrap()
            .starts_with("atk_live_")
    );
    let human = ok(
        &db,
        &[
            "owner",
            "create",
            "--email",
            "cy@example.com",
            "--plan",
            "professional",
            "--issue-key",
        ],
    );
    assert!(
        human.contains("API key (shown once, store it now): atk_live_"),
        "{human}"
    );

    // Everything is in the audit trail, by `cli`.
    let audit = db.store().list_audit("ana").await.unwrap();
    let events: Vec<&str> = audit.iter().map(|e| e.event.as_str()).collect();
    for expected in [
        "owner.provisioned",
        "key.created",
        "key.revoked",
        "key.rotated",
        "snapshot.created",
        "login_link.issued",
        "owner.plan_changed",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
    assert!(audit.iter().all(|e| e.actor == "cli"), "{audit:?}");
}

async fn the_cli_manages_oauth_clients(db: TestDb) {
    let added = ok_json(
        &db,
        &[
            "oauth-client",
            "add",
            "--name",
            "Acme CRM",
            "--redirect-uri",
            "https://crm.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--confidential",
            "--json",
        ],
    );
    let id = added["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cli_"), "{added}");
    assert!(added["client_secret"].as_str().unwrap().starts_with("cs_"));
    assert_eq!(added["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(added["registered_by"], "operator");
    let public = ok(
        &db,
        &[
            "oauth-client",
            "add",
            "--name",
            "Desk app",
            "--redirect-uri",
            "com.example.desk:/cb",
        ],
    );
    assert!(
        public.contains("client_id: cli_") && !public.contains("client_secret"),
        "{public}"
    );
    let list = ok_json(&db, &["oauth-client", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(
        list.to_string().find("client_secret\":\"cs_").is_none(),
        "no secret is listed"
    );
    let err = fails(
        db.url(),
        &[
            "oauth-client",
            "add",
            "--name",
            "x",
            "--redirect-uri",
            "http://crm.example.com/cb",
        ],
    );
    assert!(err.contains("invalid_redirect_uri"), "{err}");
    ok(&db, &["oauth-client", "remove", &id]);
    assert_eq!(
        ok_json(&db, &["oauth-client", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let err = fails(db.url(), &["oauth-client", "remove", &id]);
    assert!(err.contains("error"), "{err}");
}

twin_store::backend_tests!(
    the_cli_manages_owners_keys_twins_and_login_links,
    the_cli_manages_oauth_clients,
);

#[test]
fn every_subcommand_has_help_a_newcomer_can_follow() {
    for (args, expect) in [
        (vec!["--help"], "login-link"),
        (vec!["owner", "--help"], "set-plan"),
        (vec!["owner", "create", "--help"], "--issue-key"),
        (vec!["owner", "show", "--help"], "active keys"),
        (vec!["owner", "set-plan", "--help"], "PLAN_REQUIRED"),
        (vec!["key", "--help"], "rotate"),
        (vec!["key", "create", "--help"], "--expires-in-days"),
        (vec!["key", "alerts", "--help"], "--default-thresholds"),
        (vec!["key", "list", "--help"], "--status"),
        (vec!["key", "revoke", "--help"], "Irreversible"),
        (vec!["key", "rotate", "--help"], "--grace-period-seconds"),
        (vec!["twin", "import", "--help"], "JSON path"),
        (vec!["login-link", "--help"], "--base-url"),
        (vec!["oauth-client", "--help"], "remove"),
        (vec!["oauth-client", "add", "--help"], "--confidential"),
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            text.contains(expect),
            "{args:?} help lacks {expect:?}:\n{text}"
        );
    }
}

#[test]
fn an_unreachable_database_is_a_one_line_error() {
    let err = fails(
        "postgres://nobody@127.0.0.1:1/none",
        &["owner", "show", "ana"],
    );
    assert!(
        !err.contains("nobody@"),
        "no connection string in the message: {err}"
    );
}
