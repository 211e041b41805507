//! Timestamp formatting for response bodies.

use time::OffsetDateTime;

/// ISO 8601 / RFC 3339 in UTC with a `Z`: whole seconds (`2026-12-01T00:00:00Z`) when the
/// instant has no milliseconds, otherwise exactly three decimals (`…T12:00:01.250Z`).
pub fn iso(t: OffsetDateTime) -> String {
    twin_meter::iso8601_millis(t)
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
