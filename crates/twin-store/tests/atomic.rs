//! One transaction per change (issue 10 point 2): a change, its counters, its audit row and
//! its change-feed row commit together, and a conditional change whose condition no longer
//! holds writes nothing. Both backends.

use time::Duration;
use twin_keys::{KeyFormat, KeyHasher};
use twin_store::testing::TestDb;
use twin_store::{
    AuditEvent, FirstKey, KeyEnv, KeyPatch, KeySpec, NewOwner, NewSnapshot, Rotation, ScopeSet,
    SnapshotStatus, Store, StoreError,
};

fn spec(owner_id: &str) -> KeySpec {
    KeySpec {
        owner_id: owner_id.into(),
        env: KeyEnv::Live,
        name: "ci".into(),
        scopes: ScopeSet::all(),
        expires_at: None,
        monthly_quota: 100,
        rate_limit_rpm: 0,
        spend_limit: None,
        spend_period: twin_meter::Period::Month,
        created_by: "operator".into(),
        rotated_from: None,
        meta: None,
        alerts: Default::default(),
    }
}

fn new_owner(id: &str) -> NewOwner {
    NewOwner {
        id: Some(id.into()),
        email: format!("{id}@example.com"),
        plan: "professional".into(),
    }
}

async fn last_seq(store: &Store) -> i64 {
    store
        .changes_since(0, 10_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |c| c.seq)
}

async fn events(store: &Store, owner: &str) -> Vec<String> {
    store
        .list_audit(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

async fn provisioning_with_a_first_key_is_one_change(db: TestDb) {
    let store = db.store();
    let (fmt, hasher) = (KeyFormat::twin(), KeyHasher::sha256());
    let first = || FirstKey {
        format: &fmt,
        hasher: &hasher,
        spec: spec("ignored"),
    };
    let (owner, key) = store
        .provision_owner(new_owner("ana"), Some("operator"), Some(first()))
        .await
        .unwrap();
    let (_, key) = key.unwrap();
    assert_eq!(key.owner_id, owner.id, "the key belongs to the new owner");
    assert_eq!(
        events(store, "ana").await,
        ["owner.provisioned", "key.created"]
    );
    let feed = store.changes_since(0, 100).await.unwrap();
    assert!(feed.iter().any(|c| c.owner_id.as_deref() == Some("ana")));
    assert!(
        feed.iter()
            .any(|c| c.key_id.as_deref() == Some(key.id.as_str()))
    );

    // A taken id: neither a second owner row nor an orphan key, audit or feed row.
    let before = last_seq(store).await;
    let err = store
        .provision_owner(new_owner("ana"), Some("operator"), Some(first()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(_) | StoreError::Precondition(_)),
        "{err:?}"
    );
    let now = store.now();
    assert_eq!(store.count_active_keys("ana", now).await.unwrap(), 1);
    assert_eq!(events(store, "ana").await.len(), 2);
    assert_eq!(last_seq(store).await, before);
}

async fn a_rotation_of_a_key_revoked_meanwhile_writes_nothing(db: TestDb) {
    let store = db.store();
    let (fmt, hasher) = (KeyFormat::twin(), KeyHasher::sha256());
    store.create_owner(new_owner("ana")).await.unwrap();
    let (_, old) = store.issue_key(&fmt, &hasher, spec("ana")).await.unwrap();
    // Read, then revoked by someone else, then the rotation arrives.
    store.revoke_key("ana", &old.id).await.unwrap();
    let before = last_seq(store).await;
    let audit_before = events(store, "ana").await.len();
    let rotation = Rotation {
        old_ends_at: store.now() + Duration::hours(1),
        disabled: false,
        max_active: None,
    };
    let err = store
        .rotate_key(
            &fmt,
            &hasher,
            KeySpec {
                rotated_from: Some(old.id.clone()),
                ..spec("ana")
            },
            rotation,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Precondition(_)), "{err:?}");
    let keys = store
        .list_keys("ana", None, store.now(), 100, None)
        .await
        .unwrap();
    assert_eq!(keys.items.len(), 1, "no successor was left behind");
    assert_eq!(events(store, "ana").await.len(), audit_before);
    assert_eq!(last_seq(store).await, before);
}

async fn a_rotation_ends_the_predecessor_and_audits_in_one_go(db: TestDb) {
    let store = db.store();
    let (fmt, hasher) = (KeyFormat::twin(), KeyHasher::sha256());
    store.create_owner(new_owner("ana")).await.unwrap();
    let (_, old) = store.issue_key(&fmt, &hasher, spec("ana")).await.unwrap();
    store
        .update_key(
            "ana",
            &old.id,
            KeyPatch {
                is_active: Some(false),
                ..KeyPatch::default()
            },
        )
        .await
        .unwrap();
    let ends = store.now() + Duration::hours(1);
    let (_, new) = store
        .rotate_key(
            &fmt,
            &hasher,
            KeySpec {
                rotated_from: Some(old.id.clone()),
                ..spec("ana")
            },
            Rotation {
                old_ends_at: ends,
                disabled: true,
                max_active: None,
            },
        )
        .await
        .unwrap();
    assert!(!new.is_active, "a disabled key's successor starts disabled");
    assert_eq!(
        new.counter_id, old.counter_id,
        "one allowance for the lineage"
    );
    let old = store.find_key(&old.id).await.unwrap();
    assert_eq!(old.rotated_to.as_deref(), Some(new.id.as_str()));
    // Stored to the millisecond.
    let ms = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(old.expires_at.map(ms), Some(ms(ends)));
    assert_eq!(events(store, "ana").await.last().unwrap(), "key.rotated");
    // Rotating the same key again fails as a precondition, not as a second successor.
    let again = store
        .rotate_key(
            &fmt,
            &hasher,
            KeySpec {
                rotated_from: Some(old.id.clone()),
                ..spec("ana")
            },
            Rotation {
                old_ends_at: ends,
                disabled: false,
                max_active: None,
            },
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Precondition(_))),
        "{again:?}"
    );
}

async fn updates_and_revocations_carry_their_audit_and_feed_rows(db: TestDb) {
    let store = db.store();
    let (fmt, hasher) = (KeyFormat::twin(), KeyHasher::sha256());
    store.create_owner(new_owner("ana")).await.unwrap();
    let (_, key) = store.issue_key(&fmt, &hasher, spec("ana")).await.unwrap();
    let before = last_seq(store).await;
    let audit = AuditEvent {
        owner_id: "ana".into(),
        key_id: Some(key.id.clone()),
        event: "key.disabled".into(),
        actor: "operator".into(),
        detail: None,
        at: store.now(),
    };
    store
        .update_key_audited(
            "ana",
            &key.id,
            KeyPatch {
                is_active: Some(false),
                ..KeyPatch::default()
            },
            Some(audit.clone()),
        )
        .await
        .unwrap();
    let feed = store.changes_since(before, 100).await.unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].key_id.as_deref(), Some(key.id.as_str()));
    assert_eq!(events(store, "ana").await.last().unwrap(), "key.disabled");

    store
        .revoke_key_audited("ana", &key.id, Some("operator"))
        .await
        .unwrap();
    store
        .revoke_key_audited("ana", &key.id, Some("operator"))
        .await
        .unwrap();
    let revocations = events(store, "ana")
        .await
        .into_iter()
        .filter(|e| e == "key.revoked")
        .count();
    assert_eq!(revocations, 1, "only the first revocation is an event");
    // A revoked key's update is refused with nothing written.
    let before = last_seq(store).await;
    let audit_before = events(store, "ana").await.len();
    let err = store
        .update_key_audited("ana", &key.id, KeyPatch::default(), Some(audit))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(last_seq(store).await, before);
    assert_eq!(events(store, "ana").await.len(), audit_before);
}

async fn a_snapshot_transition_carries_its_condition(db: TestDb) {
    let store = db.store();
    store.create_owner(new_owner("ana")).await.unwrap();
    let snap = store
        .create_snapshot_audited(
            "ana",
            NewSnapshot {
                source: "purchase".into(),
                purchase_id: None,
                status: SnapshotStatus::Pending,
                document: None,
            },
            Some("operator"),
        )
        .await
        .unwrap();
    assert_eq!(events(store, "ana").await, ["snapshot.created"]);
    // Someone else moved it to generating; a change decided on `pending` is refused.
    store
        .update_snapshot(&snap.id, SnapshotStatus::Generating, None)
        .await
        .unwrap();
    let err = store
        .update_snapshot_audited(
            &snap.id,
            Some(SnapshotStatus::Pending),
            SnapshotStatus::Failed,
            None,
            Some("operator"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Precondition(_)), "{err:?}");
    assert_eq!(
        store.get_snapshot(&snap.id).await.unwrap().status,
        SnapshotStatus::Generating
    );
    assert_eq!(events(store, "ana").await, ["snapshot.created"]);
    let done = store
        .update_snapshot_audited(
            &snap.id,
            Some(SnapshotStatus::Generating),
            SnapshotStatus::Failed,
            None,
            Some("operator"),
        )
        .await
        .unwrap();
    assert_eq!(done.status, SnapshotStatus::Failed);
    assert_eq!(
        events(store, "ana").await,
        ["snapshot.created", "snapshot.updated"]
    );
}

twin_store::backend_tests!(
    provisioning_with_a_first_key_is_one_change,
    a_rotation_of_a_key_revoked_meanwhile_writes_nothing,
    a_rotation_ends_the_predecessor_and_audits_in_one_go,
    updates_and_revocations_carry_their_audit_and_feed_rows,
    a_snapshot_transition_carries_its_condition,
);
