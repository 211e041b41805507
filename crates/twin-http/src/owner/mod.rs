//! The owner API (`/v1/keys/*`, `/v1/account/*`, `/v1/webhooks/*`): keys manage the owner's keys and read the
//! owner's account, each with its scope. One file per action.

pub mod account;
pub mod key_recent;
pub mod key_usage;
pub mod keys_create;
pub mod keys_get;
pub mod keys_list;
pub mod keys_revoke;
pub mod keys_rotate;
pub mod keys_update;
pub mod webhook_deliveries;
pub mod webhooks_create;
pub mod webhooks_delete;
pub mod webhooks_get;
pub mod webhooks_list;
pub mod webhooks_rotate;
pub mod webhooks_test;
pub mod webhooks_update;

pub use twin_core::keys::KeyView;
