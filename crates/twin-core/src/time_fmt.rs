//! Timestamp formatting for response bodies.

use time::OffsetDateTime;
use time::macros::format_description;

/// ISO 8601 / RFC 3339 in UTC with a `Z`: whole seconds (`2026-12-01T00:00:00Z`) when the
/// instant has no milliseconds, otherwise exactly three decimals (`…T12:00:01.250Z`).
pub fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    if t.millisecond() == 0 {
        twin_meter::iso8601(t)
    } else {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        t.format(&format).unwrap_or_else(|_| twin_meter::iso8601(t))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::iso;

    #[test]
    fn whole_seconds_or_three_decimals() {
        assert_eq!(iso(datetime!(2026-12-01 0:00 UTC)), "2026-12-01T00:00:00Z");
        assert_eq!(
            iso(datetime!(2026-11-15 12:00:01.25 UTC)),
            "2026-11-15T12:00:01.250Z"
        );
        assert_eq!(
            iso(datetime!(2026-11-15 12:00:01.123456 UTC)),
            "2026-11-15T12:00:01.123Z"
        );
    }
}
