//! `twin-server demo`: a demo owner, a ready sample twin and a fresh key.

use anyhow::Result;
use twin_keys::KeyFormat;
use twin_store::{
    KeyEnv, KeySpec, NewOwner, NewSnapshot, ScopeSet, SnapshotStatus, Store, StoreError,
};

use crate::config::Config;

/// The demo owner's id.
pub const DEMO_OWNER: &str = "demo";

pub async fn run(store: &Store, config: &Config, base_url: &str, json: bool) -> Result<()> {
    let owner = match store.get_owner(DEMO_OWNER).await {
        Ok(owner) => owner,
        Err(StoreError::NotFound) => {
            store
                .create_owner(NewOwner {
                    id: Some(DEMO_OWNER.into()),
                    email: "demo@example.com".into(),
                    plan: "professional".into(),
                })
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    if store.latest_ready_snapshot(&owner.id).await?.is_none() {
        store
            .create_snapshot(
                &owner.id,
                NewSnapshot {
                    source: "demo".into(),
                    purchase_id: None,
                    status: SnapshotStatus::Ready,
                    document: Some(twin_render::SAMPLE_TWIN_JSON.to_owned()),
                },
            )
            .await?;
    }
    let plan = config.plans.get(&owner.plan);
    let spec = KeySpec {
        alerts: Default::default(),
        owner_id: owner.id.clone(),
        env: KeyEnv::Live,
        name: "demo key".into(),
        scopes: ScopeSet::all(),
        expires_at: None,
        monthly_quota: plan.map_or(10_000, |p| p.default_monthly_quota as i64),
        rate_limit_rpm: plan.map_or(60, |p| i64::from(p.default_rate_limit_rpm)),
        spend_limit: None,
        spend_period: twin_meter::Period::Month,
        created_by: "cli:demo".into(),
        rotated_from: None,
        meta: None,
    };
    let (plain, record) = store
        .issue_key(&KeyFormat::twin(), &config.hasher, spec)
        .await?;
    let key = plain.expose_secret();
    if json {
        println!(
            "{}",
            serde_json::json!({ "ownerId": owner.id, "key": key, "keyId": record.id, "baseUrl": base_url })
        );
    } else {
        println!("Demo owner `{}` is ready with the sample twin.", owner.id);
        println!();
        println!("API key (shown once, store it now): {key}");
        println!();
        println!("Start the server (`cargo run --release`), then:");
        println!(
            "  curl -H \"X-Twin-Key: {key}\" \"{base_url}/v1/public/twin/preset/estandar?format=json&lang=en\""
        );
    }
    Ok(())
}
