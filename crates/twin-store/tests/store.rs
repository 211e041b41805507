//! Storage behaviour, run on both SQLite and PostgreSQL (each test on its own database).

use std::sync::Arc;

use time::OffsetDateTime;
use time::macros::datetime;
use twin_store::testing::TestDb;
use twin_store::{
    AuditEvent, Backend, KeyEnv, KeyPatch, KeyStatus, NewKey, NewOwner, NewSnapshot, OwnerPatch,
    Scope, ScopeSet, SnapshotSelection, SnapshotStatus, Store, StoreConfig, StoreError, StoredHash,
};

const DOC: &str = r#"{"schemaVersion":1}"#;

async fn owner(store: &Store, id: &str) -> String {
    store
        .create_owner(NewOwner {
            id: Some(id.into()),
            email: format!("{id}@example.com"),
            plan: "professional".into(),
        })
        .await
        .unwrap()
        .id
}

fn new_key(owner_id: &str, id: &str) -> NewKey {
    NewKey {
        id: id.into(),
        owner_id: owner_id.into(),
        env: KeyEnv::Live,
        name: format!("key {id}"),
        prefix: format!("atk_live_{id}"),
        hash: StoredHash {
            algorithm: twin_keys::HashAlgorithm::Sha256,
            pepper_version: None,
            digest: vec![7; 32],
        },
        scopes: ScopeSet::default_for_new_keys(),
        expires_at: None,
        monthly_quota: 10_000,
        rate_limit_rpm: 60,
        spend_limit: None,
        spend_period: twin_meter::Period::Month,
        created_by: "test".into(),
        rotated_from: None,
        meta: None,
        alerts: Default::default(),
    }
}

fn snapshot(status: SnapshotStatus, purchase: Option<&str>) -> NewSnapshot {
    NewSnapshot {
        source: "purchase".into(),
        purchase_id: purchase.map(Into::into),
        status,
        document: (status == SnapshotStatus::Ready).then(|| DOC.to_owned()),
    }
}

async fn migrations_run_up_down_up(db: TestDb) {
    let store = db.store();
    // Already migrated once by TestDb; down then up again must both succeed.
    let reverted = store.revert_all_migrations().await.unwrap();
    assert!(!reverted.is_empty());
    assert!(matches!(
        store.get_owner("x").await,
        Err(StoreError::Database(_))
    ));
    let applied = store.migrate().await.unwrap();
    assert_eq!(applied.len(), reverted.len());
    owner(store, "after-remigrate").await;
    // A second run finds nothing to do.
    assert!(store.migrate().await.unwrap().is_empty());
}

async fn owners_are_created_read_and_changed(db: TestDb) {
    let store = db.store();
    let id = owner(store, "own_a").await;
    let read = store.get_owner(&id).await.unwrap();
    assert_eq!(read.email, "own_a@example.com");
    assert_eq!(read.plan, "professional");
    let changed = store
        .update_owner(
            &id,
            OwnerPatch {
                plan: Some("free".into()),
                email: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.plan, "free");
    assert_eq!(changed.email, "own_a@example.com");
    // Duplicate ids conflict; unknown ids are NotFound.
    let dup = store
        .create_owner(NewOwner {
            id: Some(id.clone()),
            email: "b@x".into(),
            plan: "free".into(),
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert!(matches!(
        store.get_owner("nobody").await,
        Err(StoreError::NotFound)
    ));
    let generated = store
        .create_owner(NewOwner {
            id: None,
            email: "g@x".into(),
            plan: "free".into(),
        })
        .await
        .unwrap();
    assert!(generated.id.starts_with("own_") && generated.id.len() == 20);
}

async fn snapshot_versions_increase_and_list_newest_first(db: TestDb) {
    let store = db.store();
    let id = owner(store, "o1").await;
    for _ in 0..5 {
        store
            .create_snapshot(&id, snapshot(SnapshotStatus::Pending, None))
            .await
            .unwrap();
    }
    let page = store.list_snapshots(&id, 2, None).await.unwrap();
    assert_eq!(
        page.items.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![5, 4]
    );
    let page2 = store
        .list_snapshots(&id, 2, page.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(
        page2.items.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let page3 = store
        .list_snapshots(&id, 2, page2.next_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(
        page3.items.iter().map(|s| s.version).collect::<Vec<_>>(),
        vec![1]
    );
    assert!(page3.next_cursor.is_none());
    // Another owner's snapshot reads as not found.
    let other = owner(store, "o2").await;
    let theirs = store
        .create_snapshot(&other, snapshot(SnapshotStatus::Pending, None))
        .await
        .unwrap();
    assert_eq!(theirs.version, 1);
    assert!(matches!(
        store.get_owner_snapshot(&id, &theirs.id).await,
        Err(StoreError::NotFound)
    ));
    // A ready snapshot needs a document.
    let bad = NewSnapshot {
        document: None,
        ..snapshot(SnapshotStatus::Ready, None)
    };
    assert!(matches!(
        store.create_snapshot(&id, bad).await,
        Err(StoreError::Invalid(_))
    ));
    // Unknown owner.
    let missing = store
        .create_snapshot("ghost", snapshot(SnapshotStatus::Pending, None))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

async fn concurrent_snapshot_creation_gets_distinct_versions(db: TestDb) {
    let store = db.store().clone();
    let id = owner(&store, "o1").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                store
                    .create_snapshot(&id, snapshot(SnapshotStatus::Pending, None))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap().version);
    }
    versions.sort();
    assert_eq!(versions, (1..=8).collect::<Vec<_>>());
}

async fn snapshot_selection_follows_the_spec(db: TestDb) {
    let store = db.store();
    let id = owner(store, "o1").await;
    assert!(matches!(
        store.select_snapshot(&id, None).await.unwrap(),
        SnapshotSelection::NoSnapshot
    ));
    let failed = store
        .create_snapshot(&id, snapshot(SnapshotStatus::Failed, Some("p1")))
        .await
        .unwrap();
    assert!(matches!(
        store.select_snapshot(&id, None).await.unwrap(),
        SnapshotSelection::Failed
    ));
    let pending = store
        .create_snapshot(&id, snapshot(SnapshotStatus::Pending, Some("p2")))
        .await
        .unwrap();
    assert!(matches!(
        store.select_snapshot(&id, None).await.unwrap(),
        SnapshotSelection::NotReady
    ));
    // Generating → ready with a document.
    store
        .update_snapshot(&pending.id, SnapshotStatus::Generating, None)
        .await
        .unwrap();
    assert!(matches!(
        store.select_snapshot(&id, None).await.unwrap(),
        SnapshotSelection::NotReady
    ));
    assert!(matches!(
        store
            .update_snapshot(&pending.id, SnapshotStatus::Ready, None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    store
        .update_snapshot(&pending.id, SnapshotStatus::Ready, Some(DOC.into()))
        .await
        .unwrap();
    match store.select_snapshot(&id, None).await.unwrap() {
        SnapshotSelection::Ready(s, doc) => {
            assert_eq!(s.id, pending.id);
            assert_eq!(doc, DOC);
        }
        other => panic!("{other:?}"),
    }
    // A newer ready snapshot wins.
    let newer = store
        .create_snapshot(&id, snapshot(SnapshotStatus::Ready, None))
        .await
        .unwrap();
    match store.select_snapshot(&id, None).await.unwrap() {
        SnapshotSelection::Ready(s, _) => assert_eq!(s.id, newer.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.latest_ready_snapshot(&id).await.unwrap().unwrap().id,
        newer.id
    );
    // By purchase id.
    match store.select_snapshot(&id, Some("p2")).await.unwrap() {
        SnapshotSelection::Ready(s, _) => assert_eq!(s.id, pending.id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.select_snapshot(&id, Some("p1")).await.unwrap(),
        SnapshotSelection::Failed
    ));
    assert!(matches!(
        store.select_snapshot(&id, Some("nope")).await.unwrap(),
        SnapshotSelection::UnknownPurchase
    ));
    assert_eq!(
        store.get_snapshot(&failed.id).await.unwrap().status,
        SnapshotStatus::Failed
    );
}

async fn keys_are_stored_listed_and_changed(db: TestDb) {
    let store = db.store();
    let a = owner(store, "own_a").await;
    let b = owner(store, "own_b").await;
    let k1 = store.insert_key(new_key(&a, "0000000a")).await.unwrap();
    assert_eq!(k1.prefix, "atk_live_0000000a");
    assert_eq!(k1.hash.digest, vec![7; 32]);
    assert_eq!(k1.scopes, ScopeSet::default_for_new_keys());
    let now = store.now();
    assert_eq!(k1.status(now), KeyStatus::Active);
    // Duplicate ids conflict.
    assert!(matches!(
        store.insert_key(new_key(&b, "0000000a")).await,
        Err(StoreError::Conflict(_))
    ));
    for id in ["0000000b", "0000000c", "0000000d"] {
        store.insert_key(new_key(&a, id)).await.unwrap();
    }
    store.insert_key(new_key(&b, "000000bb")).await.unwrap();
    // Pagination covers every key of the owner once and none of the other's.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_keys(&a, None, now, 3, cursor.as_deref())
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|k| k.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, vec!["0000000a", "0000000b", "0000000c", "0000000d"]);
    // Another owner's key is NotFound, like an unknown one.
    assert!(matches!(
        store.get_owner_key(&b, "0000000a").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_owner_key(&a, "ffffffff").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_key(&b, "0000000a").await,
        Err(StoreError::NotFound)
    ));

    // Disable, expire, revoke; status filters follow.
    store
        .update_key(
            &a,
            "0000000b",
            KeyPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let past = now - time::Duration::hours(1);
    store
        .update_key(
            &a,
            "0000000c",
            KeyPatch {
                expires_at: Some(Some(past)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let revoked = store.revoke_key(&a, "0000000d").await.unwrap();
    let first_revocation = revoked.revoked_at.unwrap();
    let again = store.revoke_key(&a, "0000000d").await.unwrap();
    assert_eq!(
        again.revoked_at,
        Some(first_revocation),
        "revocation is idempotent"
    );
    let a_ref = a.as_str();
    let by_status = |status| async move {
        let page = store
            .list_keys(a_ref, Some(status), now, 50, None)
            .await
            .unwrap();
        page.items.into_iter().map(|k| k.id).collect::<Vec<_>>()
    };
    assert_eq!(by_status(KeyStatus::Active).await, vec!["0000000a"]);
    assert_eq!(by_status(KeyStatus::Disabled).await, vec!["0000000b"]);
    assert_eq!(by_status(KeyStatus::Expired).await, vec!["0000000c"]);
    assert_eq!(by_status(KeyStatus::Revoked).await, vec!["0000000d"]);
    assert_eq!(store.count_active_keys(&a, now).await.unwrap(), 1);
    // A revoked key cannot be changed.
    let patch = KeyPatch {
        is_active: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        store.update_key(&a, "0000000d", patch).await,
        Err(StoreError::Conflict(_))
    ));
    // Scopes and limits change; nullable fields clear.
    let scopes = ScopeSet::from_iter([Scope::TwinRead, Scope::UsageRead]);
    let changed = store
        .update_key(
            &a,
            "0000000a",
            KeyPatch {
                name: Some("renamed".into()),
                scopes: Some(scopes),
                monthly_quota: Some(5),
                rate_limit_rpm: Some(0),
                spend_limit: Some(Some(3_000_000)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.scopes, changed.monthly_quota),
        ("renamed", scopes, 5)
    );
    assert_eq!(
        (changed.rate_limit_rpm, changed.spend_limit),
        (0, Some(3_000_000))
    );
    let cleared = store
        .update_key(
            &a,
            "0000000a",
            KeyPatch {
                spend_limit: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.spend_limit, None);
    // A bad cursor is its own error, not a crash.
    assert!(matches!(
        store.list_keys(&a, None, now, 3, Some("zzz")).await,
        Err(StoreError::BadCursor)
    ));
}

async fn concurrent_quota_reservations_never_pass_the_limit(db: TestDb) {
    let store = db.store().clone();
    let a = owner(&store, "own_a").await;
    store.insert_key(new_key(&a, "0000000a")).await.unwrap();
    let month = datetime!(2026-11-01 0:00 UTC);
    let limit = 97;
    // 60 concurrent reservations of 1 to 5 units each (300 wanted in all).
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve_quota("0000000a", month, limit, 1 + i % 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        let grant = t.await.unwrap();
        assert!(grant.used <= limit, "never past the limit: {grant:?}");
        granted += grant.granted;
    }
    assert_eq!(granted, limit, "every unit handed out exactly once");
    let key = store.find_key("0000000a").await.unwrap();
    assert_eq!(key.counters.quota_used_in(month), limit);
    let none = store
        .reserve_quota("0000000a", month, limit, 1)
        .await
        .unwrap();
    assert_eq!((none.granted, none.used), (0, limit));
    // Returned units can be reserved again; a new month starts over.
    store.release_quota("0000000a", month, 3).await.unwrap();
    assert_eq!(
        store
            .reserve_quota("0000000a", month, limit, 10)
            .await
            .unwrap()
            .granted,
        1,
        "a share of what is left"
    );
    let next = datetime!(2026-12-01 0:00 UTC);
    let fresh = store
        .reserve_quota("0000000a", next, limit, 5)
        .await
        .unwrap();
    assert_eq!((fresh.granted, fresh.used), (5, 5));
    assert!(matches!(
        store.reserve_quota("ffffffff", next, 1, 1).await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_spend_reservations_never_pass_the_cap(db: TestDb) {
    let store = db.store().clone();
    let a = owner(&store, "own_a").await;
    store.insert_key(new_key(&a, "0000000a")).await.unwrap();
    let day = datetime!(2026-11-15 0:00 UTC);
    let cap = 10_500_000; // 10.5 credits: ten requests at 1 credit, never eleven
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve_spend("0000000a", day, Some(cap), 1_000_000, 1_000_000)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.unwrap().granted;
    }
    assert_eq!(granted, 10_000_000);
}

async fn audit_events_are_kept_in_order(db: TestDb) {
    let store = db.store();
    let a = owner(store, "own_a").await;
    for event in ["key.created", "key.disabled", "key.revoked"] {
        store
            .record_audit(AuditEvent {
                owner_id: a.clone(),
                key_id: Some("0000000a".into()),
                event: event.into(),
                actor: "atk_live_0000000a".into(),
                detail: None,
                at: OffsetDateTime::now_utc(),
            })
            .await
            .unwrap();
    }
    let events = store.list_audit(&a).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["key.created", "key.disabled", "key.revoked"]
    );
}

/// A usage batch larger than one multi-row statement (500 rows) in each of its three parts:
/// raw rows, roll-up groups and touched keys. Written twice, so the second batch adds to the
/// roll-ups and use counts the first one created.
async fn usage_batches_larger_than_one_statement_are_written_whole(db: TestDb) {
    let store = db.store();
    let a = owner(store, "own_u").await;
    const KEYS: usize = 520;
    let ids: Vec<String> = (0..KEYS).map(|i| format!("{i:08x}")).collect();
    for id in &ids {
        store.insert_key(new_key(&a, id)).await.unwrap();
    }
    let t0 = datetime!(2026-11-20 10:00 UTC);
    let mut entries = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        // Two routes per key (two roll-up groups each: 1,040 groups), three calls per key.
        for (j, route) in [
            "/v1/public/twin/preset/{slug}",
            "/v1/public/twin/me",
            "/v1/public/twin/me",
        ]
        .into_iter()
        .enumerate()
        {
            entries.push(twin_store::UsageEntry {
                key_id: id.clone(),
                owner_id: a.clone(),
                at: t0 + time::Duration::seconds((i * 3 + j) as i64),
                method: "GET".into(),
                route: route.into(),
                status: 200,
                cost: if j == 0 { 1_000 } else { 0 },
                duration_us: 100,
                variant: (j == 0).then(|| "claude".to_owned()),
                format: (j == 0).then(|| "json".to_owned()),
                client_id: None,
            });
        }
    }
    store.record_usage(&entries).await.unwrap();
    store.record_usage(&entries).await.unwrap();
    for (i, id) in ids.iter().enumerate() {
        let key = store.find_key(id).await.unwrap();
        assert_eq!(key.usage_count, 6, "key {id}");
        assert_eq!(
            key.last_used_at,
            Some(t0 + time::Duration::seconds((i * 3 + 2) as i64)),
            "key {id}"
        );
    }
    for id in [&ids[0], &ids[499], &ids[500], &ids[KEYS - 1]] {
        let mut daily = store.key_daily_usage(id, None).await.unwrap();
        daily.sort_by(|x, y| x.route.cmp(&y.route));
        let summary: Vec<(String, String, i64, i64)> = daily
            .into_iter()
            .map(|d| (d.route, d.variant, d.calls, d.cost))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("GET /v1/public/twin/me".to_owned(), String::new(), 4, 0),
                (
                    "GET /v1/public/twin/preset/{slug}".to_owned(),
                    "claude".to_owned(),
                    2,
                    2_000
                ),
            ],
            "key {id}"
        );
    }
    let totals = store
        .owner_usage_by_key(
            &a,
            t0 - time::Duration::days(1),
            t0 + time::Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(totals.len(), KEYS);
    assert!(totals.iter().all(|t| t.calls == 6 && t.cost == 2_000));
}

/// Rate reservations with the caller's copy of the window: one conditional update while the
/// copy is current, and a stale copy is never trusted, so the limit holds either way.
async fn rate_reservations_with_a_stale_window_never_pass_the_limit(db: TestDb) {
    let store = db.store().clone();
    let a = owner(&store, "own_a").await;
    store.insert_key(new_key(&a, "0000000a")).await.unwrap();
    // The start of a minute: the previous minute's bucket is empty.
    let now = datetime!(2026-11-20 10:00:00 UTC);
    let limit = 100;
    let first = store
        .reserve_rate("0000000a", limit, now, 30, None)
        .await
        .unwrap();
    assert_eq!(first.granted, 30);
    let second = store
        .reserve_rate("0000000a", limit, now, 30, Some(first.state))
        .await
        .unwrap();
    assert_eq!((second.granted, second.state.current), (30, 60));
    // `first.state` is stale now: the reservation must still count the 60 taken.
    let third = store
        .reserve_rate("0000000a", limit, now, 30, Some(first.state))
        .await
        .unwrap();
    assert_eq!((third.granted, third.state.current), (30, 90));
    let fourth = store
        .reserve_rate("0000000a", limit, now, 30, Some(first.state))
        .await
        .unwrap();
    assert_eq!((fourth.granted, fourth.state.current), (10, 100));
    // A copy that says there is room while the stored window is full grants nothing.
    let none = store
        .reserve_rate("0000000a", limit, now, 1, Some(second.state))
        .await
        .unwrap();
    assert_eq!(none.granted, 0);
    // A copy that says the window is full is checked against the stored one too.
    let full_copy = twin_meter::rate::RateWindow {
        minute: fourth.state.minute,
        previous: 0,
        current: 100,
    };
    // Two minutes on, the full minute has left the window.
    let later = now + time::Duration::minutes(2);
    let fresh = store
        .reserve_rate("0000000a", limit, later, 5, Some(full_copy))
        .await
        .unwrap();
    assert!(fresh.granted > 0, "{fresh:?}");
    assert_eq!(store.rate_window("0000000a").await.unwrap(), fresh.state);
}

twin_store::backend_tests!(
    migrations_run_up_down_up,
    owners_are_created_read_and_changed,
    snapshot_versions_increase_and_list_newest_first,
    concurrent_snapshot_creation_gets_distinct_versions,
    snapshot_selection_follows_the_spec,
    keys_are_stored_listed_and_changed,
    concurrent_quota_reservations_never_pass_the_limit,
    concurrent_spend_reservations_never_pass_the_cap,
    audit_events_are_kept_in_order,
    usage_batches_larger_than_one_statement_are_written_whole,
    rate_reservations_with_a_stale_window_never_pass_the_limit,
);

#[tokio::test]
async fn an_unreachable_postgres_is_reported_as_unavailable() {
    let mut config = StoreConfig::new("postgres://postgres@127.0.0.1:1/none");
    config.timeout = std::time::Duration::from_millis(500);
    let store = Store::connect(config).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    let err = store.ping().await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let err = store.get_owner("x").await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[test]
fn store_config_debug_hides_the_url() {
    let config = StoreConfig::new("postgres://user:secret@db/x");
    assert!(!format!("{config:?}").contains("secret"));
    let _unused: Option<Arc<()>> = None;
}
