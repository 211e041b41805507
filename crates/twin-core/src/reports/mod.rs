//! What the owner reads about their keys: usage reports, recent calls, the month's usage per
//! key. Shared by the owner API and the dashboard, so both show the same figures.

pub mod account;
pub mod activity;
pub mod key_usage;
pub mod recent;
