//! Diesel table definitions, shared by the PostgreSQL and SQLite schemas.
//!
//! Both migration sets create the same columns with types that map to the same diesel
//! SQL types, so every query in this crate compiles once per backend from one source.
#![allow(missing_docs)]

diesel::table! {
    owners (id) {
        id -> Text,
        email -> Text,
        plan -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    snapshots (id) {
        id -> Text,
        owner_id -> Text,
        version -> BigInt,
        source -> Text,
        status -> Text,
        purchase_id -> Nullable<Text>,
        document -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        owner_id -> Text,
        env -> Text,
        name -> Text,
        prefix -> Text,
        hash_algorithm -> Text,
        pepper_version -> Nullable<BigInt>,
        key_hash -> Binary,
        scopes -> Text,
        is_active -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        expires_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
        last_used_at -> Nullable<BigInt>,
        usage_count -> BigInt,
        monthly_quota -> BigInt,
        rate_limit_rpm -> BigInt,
        spend_limit -> Nullable<BigInt>,
        spend_period -> Text,
        created_by -> Text,
        rotated_from -> Nullable<Text>,
        counter_id -> Text,
        rotated_to -> Nullable<Text>,
        meta -> Nullable<Text>,
        alert_thresholds -> Nullable<Text>,
        alerts -> Nullable<Text>,
        grant_id -> Nullable<Text>,
    }
}

diesel::table! {
    key_counters (key_id) {
        key_id -> Text,
        quota_period -> BigInt,
        quota_used -> BigInt,
        rate_minute -> BigInt,
        rate_current -> BigInt,
        rate_previous -> BigInt,
        spend_period_start -> BigInt,
        spend_period_used -> BigInt,
    }
}

diesel::table! {
    usage_log (id) {
        id -> BigInt,
        key_id -> Text,
        owner_id -> Text,
        at -> BigInt,
        method -> Text,
        route -> Text,
        status -> Integer,
        cost -> BigInt,
        duration_us -> BigInt,
        variant -> Nullable<Text>,
        format -> Nullable<Text>,
        client_id -> Nullable<Text>,
    }
}

diesel::table! {
    usage_daily (key_id, day, route, status, variant) {
        key_id -> Text,
        owner_id -> Text,
        day -> BigInt,
        route -> Text,
        status -> Integer,
        variant -> Text,
        calls -> BigInt,
        cost -> BigInt,
    }
}

diesel::table! {
    login_links (token_hash) {
        token_hash -> Binary,
        owner_id -> Text,
        created_by -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    dashboard_sessions (token_hash) {
        token_hash -> Binary,
        owner_id -> Text,
        csrf_token -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        owner_id -> Text,
        key_id -> Nullable<Text>,
        event -> Text,
        actor -> Text,
        detail -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::joinable!(snapshots -> owners (owner_id));
diesel::joinable!(api_keys -> owners (owner_id));
diesel::joinable!(key_counters -> api_keys (key_id));

diesel::allow_tables_to_appear_in_same_query!(
    owners,
    snapshots,
    api_keys,
    key_counters,
    usage_log,
    usage_daily,
    login_links,
    dashboard_sessions,
    audit_events,
    changes,
    webhook_endpoints,
    webhook_events,
    webhook_deliveries,
    alert_marks,
    oauth_clients,
    oauth_grants,
    oauth_codes,
    oauth_tokens,
);

diesel::table! {
    changes (seq) {
        seq -> BigInt,
        key_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        at -> BigInt,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        owner_id -> Text,
        url -> Text,
        description -> Text,
        events -> Text,
        enabled -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<BigInt>,
        failing_since -> Nullable<BigInt>,
        disabled_reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    webhook_events (seq) {
        seq -> BigInt,
        id -> Text,
        owner_id -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (seq) {
        seq -> BigInt,
        id -> Text,
        endpoint_id -> Text,
        event_seq -> BigInt,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Nullable<BigInt>,
        claimed_until -> Nullable<BigInt>,
        last_attempt_at -> Nullable<BigInt>,
        last_status_code -> Nullable<BigInt>,
        last_latency_ms -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        last_response -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    alert_marks (subject, kind, level, period) {
        subject -> Text,
        kind -> Text,
        level -> BigInt,
        period -> BigInt,
        at -> BigInt,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_events (event_seq));

diesel::table! {
    oauth_clients (id) {
        id -> Text,
        name -> Text,
        redirect_uris -> Text,
        secret_hash -> Nullable<Binary>,
        auth_method -> Text,
        registered_by -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_grants (id) {
        id -> Text,
        client_id -> Text,
        owner_id -> Text,
        key_id -> Text,
        scopes -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Binary,
        grant_id -> Text,
        client_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_tokens (id) {
        id -> Text,
        grant_id -> Text,
        kind -> Text,
        token_hash -> Binary,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(oauth_grants -> oauth_clients (client_id));
