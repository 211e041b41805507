//! What the owner reads about their keys: usage reports, recent calls, the month's usage per
//! key. Shared by the owner API and the dashboard, so both show the same figures.

pub mod account;
pub mod activity;
pub mod key_usage;
pub mod recent;

/// Micro-credits as the API writes them (`12.500000`); a sum beyond what `Credits` holds
/// reads as zero rather than failing a report.
pub(crate) fn credits(micros: i64) -> String {
    twin_meter::Credits::from_micros(micros)
        .unwrap_or(twin_meter::Credits::ZERO)
        .to_string()
}
