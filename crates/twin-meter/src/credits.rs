//! Money: credits with exactly six decimal places, kept as integer micro-credits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of credits, stored as a non-negative integer number of micro-credits
/// (1 credit = 1,000,000 micro-credits), so that sums are exact.
///
/// * Text form: a decimal with up to six places, no sign, no exponent, no whitespace
///   (`"12.345678"`, `"1"`, `"0.5"`); see [`ParseCreditsError`] for what is rejected.
/// * [`Display`](fmt::Display) always prints six places (`"1.000000"`), which is also the
///   serde form (a JSON string). Deserialization accepts that string, or a JSON integer of
///   whole credits; JSON floats are refused because they cannot carry six decimals exactly.
///
/// ```
/// use twin_meter::Credits;
/// let price: Credits = "0.5".parse().unwrap();
/// assert_eq!(price.micros(), 500_000);
/// assert_eq!(price.to_string(), "0.500000");
/// assert_eq!(price.checked_add(Credits::ONE).unwrap().to_string(), "1.500000");
/// assert!("1.2345678".parse::<Credits>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credits(i64);

/// Micro-credits in one credit.
pub const MICROS_PER_CREDIT: i64 = 1_000_000;

/// Decimal places of the text form.
const PLACES: usize = 6;

impl Credits {
    /// No credits.
    pub const ZERO: Credits = Credits(0);
    /// One credit.
    pub const ONE: Credits = Credits(MICROS_PER_CREDIT);
    /// The largest amount: `9223372036854.775807`.
    pub const MAX: Credits = Credits(i64::MAX);

    /// The amount of `micros` micro-credits, or `None` if it is negative.
    ///
    /// Storage reads amounts back through this (micro-credits are stored as a signed 64-bit
    /// integer column).
    pub const fn from_micros(micros: i64) -> Option<Credits> {
        if micros < 0 {
            None
        } else {
            Some(Credits(micros))
        }
    }

    /// `whole` credits, or `None` if that overflows.
    pub const fn from_whole(whole: u64) -> Option<Credits> {
        if whole > (i64::MAX / MICROS_PER_CREDIT) as u64 {
            None
        } else {
            Some(Credits(whole as i64 * MICROS_PER_CREDIT))
        }
    }

    /// The amount in micro-credits (never negative).
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Credits) -> Option<Credits> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Credits(sum)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other` is larger (amounts are never negative).
    pub const fn checked_sub(self, other: Credits) -> Option<Credits> {
        if other.0 > self.0 {
            None
        } else {
            Some(Credits(self.0 - other.0))
        }
    }

    /// `self + other`, saturating at [`Credits::MAX`].
    pub const fn saturating_add(self, other: Credits) -> Credits {
        Credits(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating at zero.
    pub const fn saturating_sub(self, other: Credits) -> Credits {
        if other.0 > self.0 {
            Credits::ZERO
        } else {
            Credits(self.0 - other.0)
        }
    }

    /// `self × n` (e.g. a price times a number of calls), or `None` on overflow.
    pub const fn checked_mul(self, n: u64) -> Option<Credits> {
        if n > i64::MAX as u64 {
            return if self.0 == 0 {
                Some(Credits::ZERO)
            } else {
                None
            };
        }
        match self.0.checked_mul(n as i64) {
            Some(p) => Some(Credits(p)),
            None => None,
        }
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / MICROS_PER_CREDIT;
        let frac = self.0 % MICROS_PER_CREDIT;
        write!(f, "{whole}.{frac:06}")
    }
}

/// Why a string is not an amount of credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseCreditsError {
    /// The string is empty.
    #[error("credits must not be empty")]
    Empty,
    /// The string starts with `-`.
    #[error("credits must not be negative")]
    Negative,
    /// The string starts with `+`.
    #[error("credits must not carry a sign")]
    Sign,
    /// A character other than a digit or a single `.` (whitespace, `e`, `,`, a second `.`, …).
    #[error("invalid character {found:?} at position {position} in credits")]
    InvalidCharacter {
        /// The offending character.
        found: char,
        /// Its byte offset in the input.
        position: usize,
    },
    /// No digits before or after the decimal point (`".5"`, `"1."`).
    #[error("credits need digits on both sides of the decimal point")]
    MissingDigits,
    /// More than six decimal places.
    #[error("credits have at most 6 decimal places, found {places}")]
    TooManyDecimals {
        /// How many decimal places the input has.
        places: usize,
    },
    /// Larger than [`Credits::MAX`].
    #[error("credits amount is too large")]
    Overflow,
}

impl FromStr for Credits {
    type Err = ParseCreditsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.chars().next() {
            None => return Err(ParseCreditsError::Empty),
            Some('-') => return Err(ParseCreditsError::Negative),
            Some('+') => return Err(ParseCreditsError::Sign),
            Some(_) => {}
        }
        if let Some((position, found)) = s
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        {
            return Err(ParseCreditsError::InvalidCharacter { found, position });
        }
        let (whole, frac) = match s.split_once('.') {
            None => (s, ""),
            Some((whole, frac)) => {
                if let Some(i) = frac.find('.') {
                    return Err(ParseCreditsError::InvalidCharacter {
                        found: '.',
                        position: whole.len() + 1 + i,
                    });
                }
                if whole.is_empty() || frac.is_empty() {
                    return Err(ParseCreditsError::MissingDigits);
                }
                (whole, frac)
            }
        };
        if frac.len() > PLACES {
            return Err(ParseCreditsError::TooManyDecimals { places: frac.len() });
        }
        // Only ASCII digits remain, so the arithmetic below cannot see anything else.
        let mut micros: i64 = 0;
        for b in whole.bytes() {
            micros = micros
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(ParseCreditsError::Overflow)?;
        }
        micros = micros
            .checked_mul(MICROS_PER_CREDIT)
            .ok_or(ParseCreditsError::Overflow)?;
        let mut frac_micros: i64 = 0;
        for i in 0..PLACES {
            let digit = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            frac_micros = frac_micros * 10 + digit;
        }
        micros
            .checked_add(frac_micros)
            .map(Credits)
            .ok_or(ParseCreditsError::Overflow)
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Credits;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal string with up to 6 places, such as \"12.345678\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Credits, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Credits, E> {
                Credits::from_whole(v).ok_or_else(|| E::custom(ParseCreditsError::Overflow))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Credits, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(ParseCreditsError::Negative)),
                }
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(s: &str) -> Credits {
        s.parse().unwrap()
    }

    #[test]
    fn parses_decimals_with_up_to_six_places() {
        assert_eq!(c("12.345678").micros(), 12_345_678);
        assert_eq!(c("1").micros(), 1_000_000);
        assert_eq!(c("0.5").micros(), 500_000);
        assert_eq!(c("0").micros(), 0);
        assert_eq!(c("0.000001").micros(), 1);
        assert_eq!(c("007.100").micros(), 7_100_000);
        assert_eq!(c("9223372036854.775807"), Credits::MAX);
    }

    #[test]
    fn rejects_everything_else_with_a_typed_error() {
        use ParseCreditsError::*;
        let cases: &[(&str, ParseCreditsError)] = &[
            ("", Empty),
            ("-1", Negative),
            ("-0", Negative),
            ("+1", Sign),
            (
                " 1",
                InvalidCharacter {
                    found: ' ',
                    position: 0,
                },
            ),
            (
                "1 ",
                InvalidCharacter {
                    found: ' ',
                    position: 1,
                },
            ),
            (
                "1\n",
                InvalidCharacter {
                    found: '\n',
                    position: 1,
                },
            ),
            (
                "1e3",
                InvalidCharacter {
                    found: 'e',
                    position: 1,
                },
            ),
            (
                "1E3",
                InvalidCharacter {
                    found: 'E',
                    position: 1,
                },
            ),
            (
                "1,5",
                InvalidCharacter {
                    found: ',',
                    position: 1,
                },
            ),
            (
                "1.2.3",
                InvalidCharacter {
                    found: '.',
                    position: 3,
                },
            ),
            (
                "NaN",
                InvalidCharacter {
                    found: 'N',
                    position: 0,
                },
            ),
            (
                "１",
                InvalidCharacter {
                    found: '１',
                    position: 0,
                },
            ),
            (".5", MissingDigits),
            ("5.", MissingDigits),
            (".", MissingDigits),
            ("1.2345678", TooManyDecimals { places: 7 }),
            ("0.0000000", TooManyDecimals { places: 7 }),
            ("9223372036854.775808", Overflow),
            ("9223372036855", Overflow),
            ("99999999999999999999999", Overflow),
        ];
        for (input, expected) in cases {
            assert_eq!(input.parse::<Credits>(), Err(*expected), "input {input:?}");
        }
    }

    #[test]
    fn display_always_prints_six_places() {
        assert_eq!(Credits::ZERO.to_string(), "0.000000");
        assert_eq!(Credits::ONE.to_string(), "1.000000");
        assert_eq!(c("12.345678").to_string(), "12.345678");
        assert_eq!(Credits::MAX.to_string(), "9223372036854.775807");
    }

    #[test]
    fn arithmetic_never_goes_negative_or_wraps() {
        assert_eq!(Credits::ONE.checked_sub(c("1.000001")), None);
        assert_eq!(Credits::ONE.saturating_sub(c("2")), Credits::ZERO);
        assert_eq!(Credits::MAX.checked_add(Credits(1)), None);
        assert_eq!(Credits::MAX.saturating_add(Credits::ONE), Credits::MAX);
        assert_eq!(c("0.5").checked_mul(3), Some(c("1.5")));
        assert_eq!(Credits::ONE.checked_mul(u64::MAX), None);
        assert_eq!(Credits::ZERO.checked_mul(u64::MAX), Some(Credits::ZERO));
        assert_eq!(Credits::from_micros(-1), None);
        assert_eq!(Credits::from_whole(9_223_372_036_855), None);
        assert_eq!(Credits::from_whole(3), Some(c("3")));
    }

    #[test]
    fn serde_is_a_string_and_accepts_whole_integers() {
        let v = c("12.5");
        assert_eq!(serde_json::to_string(&v).unwrap(), "\"12.500000\"");
        assert_eq!(serde_json::from_str::<Credits>("\"12.5\"").unwrap(), v);
        assert_eq!(serde_json::from_str::<Credits>("12").unwrap(), c("12"));
        for bad in ["12.5", "-1", "\"-1\"", "\"1e3\"", "null", "\"\""] {
            assert!(serde_json::from_str::<Credits>(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(micros in 0i64..=i64::MAX) {
            let v = Credits(micros);
            let s = v.to_string();
            let (_, frac) = s.split_once('.').unwrap();
            prop_assert_eq!(frac.len(), 6);
            prop_assert_eq!(s.parse::<Credits>(), Ok(v));
        }

        #[test]
        fn parsing_equals_integer_arithmetic(whole in 0u64..=9_223_372_036_853, frac in "[0-9]{0,6}") {
            let s = if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") };
            let padded = format!("{frac:0<6}");
            let expected = whole as i64 * MICROS_PER_CREDIT + padded.parse::<i64>().unwrap();
            prop_assert_eq!(s.parse::<Credits>().map(Credits::micros), Ok(expected));
        }

        #[test]
        fn checked_add_matches_wide_arithmetic(a in 0i64..=i64::MAX, b in 0i64..=i64::MAX) {
            let wide = i128::from(a) + i128::from(b);
            let got = Credits(a).checked_add(Credits(b)).map(|c| i128::from(c.micros()));
            prop_assert_eq!(got, (wide <= i128::from(i64::MAX)).then_some(wide));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,30}") {
            let _ = s.parse::<Credits>();
        }
    }
}
