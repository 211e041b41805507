#![doc = include_str!("../README.md")]

mod clock;
mod credits;
pub mod lease;
mod period;
pub mod plans;
mod quota;
pub mod rate;
mod spend;
mod timestamp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use credits::{Credits, MICROS_PER_CREDIT, ParseCreditsError};
pub use period::{ParsePeriodError, Period, PeriodUsage, month_start, next_month_start};
pub use quota::{
    DEFAULT_MONTHLY_QUOTA, HEADER_QUOTA_LIMIT, HEADER_QUOTA_REMAINING, HEADER_QUOTA_RESET,
    HEADER_QUOTA_USED, MAX_MONTHLY_QUOTA, QuotaExceeded, QuotaSnapshot,
};
pub use rate::{
    RateDecision, RateLimited, RateReservation, RateWindow, decide, decide_at_ms, reserve,
    reserve_at_ms,
};
pub use spend::{
    HEADER_SPEND_COST, HEADER_SPEND_PERIOD_LIMIT, HEADER_SPEND_PERIOD_RESET,
    HEADER_SPEND_PERIOD_USED, SpendDecision, SpendLimitExceeded, decide_spend,
};
pub use timestamp::{TimestampError, iso8601, iso8601_millis, parse_iso8601};
