//! Timestamps on the wire: ISO 8601 / RFC 3339 in UTC with whole seconds and a `Z`.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Formats `t` as `2026-12-01T00:00:00Z`: converted to UTC, fractional seconds truncated,
/// always a `Z` suffix. This is the form of every timestamp the API sends (`resetsAt`,
/// `X-Twin-Quota-Reset`, `periodResetAt`, …).
///
/// Years are printed with at least four digits; instants before year 1 are not expected.
///
/// ```
/// use time::macros::datetime;
/// assert_eq!(
///     twin_meter::iso8601(datetime!(2026-11-30 23:00:00.75 -01:00)),
///     "2026-12-01T00:00:00Z"
/// );
/// ```
pub fn iso8601(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats `t` like [`iso8601`] when it has no milliseconds, otherwise with exactly three
/// decimals (`2026-11-15T12:00:01.250Z`): the form of event and response timestamps that
/// record an instant rather than a boundary.
///
/// ```
/// use time::macros::datetime;
/// assert_eq!(twin_meter::iso8601_millis(datetime!(2026-12-01 0:00 UTC)), "2026-12-01T00:00:00Z");
/// assert_eq!(
///     twin_meter::iso8601_millis(datetime!(2026-11-15 12:00:01.123456 UTC)),
///     "2026-11-15T12:00:01.123Z"
/// );
/// ```
pub fn iso8601_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let ms = t.millisecond();
    let mut s = iso8601(t);
    if ms != 0 {
        s.pop();
        s.push_str(&format!(".{ms:03}Z"));
    }
    s
}

/// A timestamp that is not valid RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{value}`: expected RFC 3339 / ISO 8601 such as 2026-12-01T00:00:00Z")]
pub struct TimestampError {
    /// The rejected input.
    pub value: String,
}

/// Parses an RFC 3339 timestamp (the output of [`iso8601`], or any offset and fractional
/// seconds) and returns it in UTC.
///
/// ```
/// use time::macros::datetime;
/// let t = twin_meter::parse_iso8601("2026-12-01T01:00:00+01:00").unwrap();
/// assert_eq!(t, datetime!(2026-12-01 00:00 UTC));
/// assert!(twin_meter::parse_iso8601("2026-12-01").is_err());
/// ```
pub fn parse_iso8601(s: &str) -> Result<OffsetDateTime, TimestampError> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| t.to_offset(UtcOffset::UTC))
        .map_err(|_| TimestampError {
            value: s.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    #[test]
    fn formats_whole_seconds_in_utc_with_z() {
        assert_eq!(iso8601(OffsetDateTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso8601(datetime!(2024-02-29 09:08:07.999999999 UTC)),
            "2024-02-29T09:08:07Z"
        );
        assert_eq!(
            iso8601(datetime!(2027-01-01 05:30 +05:30)),
            "2027-01-01T00:00:00Z"
        );
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T00:00:00",
            "2026-02-30T00:00:00Z",
            " 2026-12-01T00:00:00Z",
        ] {
            assert!(parse_iso8601(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips_to_the_second(secs in 0i64..253_402_300_799) {
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let s = iso8601(t);
            prop_assert_eq!(s.len(), 20);
            prop_assert_eq!(parse_iso8601(&s).unwrap(), t);
        }
    }
}
