//! Timestamp formatting for response bodies.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// ISO 8601 / RFC 3339 in UTC with a `Z` (milliseconds when the instant has them).
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if t.millisecond() == 0 {
        twin_meter::iso8601(t)
    } else {
        let t = t
            .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
            .unwrap_or(t);
        t.format(&Rfc3339)
            .unwrap_or_else(|_| twin_meter::iso8601(t))
    }
}
