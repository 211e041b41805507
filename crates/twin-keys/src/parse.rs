//! The result of parsing a key, and why parsing can fail.

use std::fmt;

/// Byte offsets of a key's parts. Computed once per format and environment, shared by
/// [`ParsedKey`] and [`crate::PlainKey`] so neither has to parse twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) env_start: usize,
    pub(crate) env_end: usize,
    /// Equal to `id_end` when the format has no id segment.
    pub(crate) id_start: usize,
    pub(crate) id_end: usize,
    pub(crate) secret_start: usize,
    pub(crate) display_end: usize,
    pub(crate) len: usize,
}

impl Layout {
    pub(crate) fn env(self, key: &str) -> &str {
        &key[self.env_start..self.env_end]
    }

    pub(crate) fn id(self, key: &str) -> Option<&str> {
        (self.id_end > self.id_start).then(|| &key[self.id_start..self.id_end])
    }

    pub(crate) fn display_prefix(self, key: &str) -> &str {
        &key[..self.display_end]
    }
}

/// A key that passed [`crate::KeyFormat::parse`]: well formed and, if the format has one,
/// with a correct checksum. It borrows the input, so parsing allocates nothing.
///
/// Passing the parse says nothing about whether the key exists or is active: that takes a
/// lookup by [`ParsedKey::id`] and [`crate::KeyHasher::verify`].
///
/// `Debug` shows the display prefix only.
#[derive(Clone, Copy)]
pub struct ParsedKey<'a> {
    key: &'a str,
    layout: Layout,
}

impl<'a> ParsedKey<'a> {
    pub(crate) fn new(key: &'a str, layout: Layout) -> Self {
        debug_assert_eq!(key.len(), layout.len);
        Self { key, layout }
    }

    /// The whole key, secret included: what [`crate::KeyHasher`] hashes. Never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &'a str {
        self.key
    }

    /// The environment, e.g. `live`.
    #[must_use]
    pub fn env(&self) -> &'a str {
        self.layout.env(self.key)
    }

    /// The public id, e.g. `1a2b3c4d`; `None` for formats without an id segment.
    #[must_use]
    pub fn id(&self) -> Option<&'a str> {
        self.layout.id(self.key)
    }

    /// The display prefix, e.g. `atk_live_1a2b3c4d`: safe to show in logs and dashboards.
    #[must_use]
    pub fn display_prefix(&self) -> &'a str {
        self.layout.display_prefix(self.key)
    }

    /// Whether the environment is `test`.
    #[must_use]
    pub fn is_test(&self) -> bool {
        self.env() == "test"
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("display_prefix", &self.display_prefix())
            .finish_non_exhaustive()
    }
}

/// Why [`crate::KeyFormat::parse`] rejected a key.
///
/// Neither variant carries the key, so the error is safe to log. A server answers
/// [`ParseError::Format`] with "invalid key format" and [`ParseError::Checksum`] like an
/// unknown key, without a database lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The key does not have the format's shape.
    #[error("malformed API key ({0})")]
    Format(FormatIssue),
    /// The key has the format's shape but its CRC32 checksum is wrong (a typo, a truncated
    /// copy or a made-up key).
    #[error("API key checksum mismatch")]
    Checksum,
}

impl ParseError {
    /// Whether this is a [`ParseError::Format`].
    #[must_use]
    pub fn is_format(&self) -> bool {
        matches!(self, Self::Format(_))
    }

    /// Whether this is a [`ParseError::Checksum`].
    #[must_use]
    pub fn is_checksum(&self) -> bool {
        matches!(self, Self::Checksum)
    }
}

/// The first part of a malformed key found wrong, checked from left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FormatIssue {
    /// The key does not start with the prefix word and `_`.
    Prefix,
    /// No allowed environment followed by `_` comes next.
    Environment,
    /// The key is too short or too long for its environment.
    Length,
    /// The id is not lowercase hex.
    Id,
    /// The `_` between id and secret is missing.
    Separator,
    /// The secret is not lowercase hex.
    Secret,
}

impl fmt::Display for FormatIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Prefix => "wrong prefix",
            Self::Environment => "unknown environment",
            Self::Length => "wrong length",
            Self::Id => "id is not lowercase hex",
            Self::Separator => "missing separator before the secret",
            Self::Secret => "secret is not lowercase hex",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyFormat;

    /// A fixed, valid twin key (checksum computed independently of the crate).
    fn valid() -> String {
        let body = "atk_live_0123abcd_00112233445566778899aabb";
        format!("{body}{:08x}", crc32fast::hash(body.as_bytes()))
    }

    fn parse(key: &str) -> Result<ParsedKey<'_>, ParseError> {
        KeyFormat::twin().parse(key)
    }

    #[test]
    fn parses_a_valid_key_into_borrowed_parts() {
        let key = valid();
        let parsed = parse(&key).unwrap();
        assert_eq!(parsed.env(), "live");
        assert_eq!(parsed.id(), Some("0123abcd"));
        assert_eq!(parsed.display_prefix(), "atk_live_0123abcd");
        assert!(!parsed.is_test());
        assert_eq!(parsed.expose_secret(), key);
        assert!(std::ptr::eq(parsed.expose_secret(), key.as_str()));
    }

    #[test]
    fn test_environment_is_reported() {
        let body = "atk_test_0123abcd_00112233445566778899aabb";
        let key = format!("{body}{:08x}", crc32fast::hash(body.as_bytes()));
        assert!(parse(&key).unwrap().is_test());
    }

    #[test]
    fn debug_shows_only_the_display_prefix() {
        let key = valid();
        let debug = format!("{:?}", parse(&key).unwrap());
        assert_eq!(
            debug,
            "ParsedKey { display_prefix: \"atk_live_0123abcd\", .. }"
        );
    }

    #[test]
    fn each_kind_of_malformation_is_named() {
        let key = valid();
        let cases: &[(String, FormatIssue)] = &[
            (String::new(), FormatIssue::Prefix),
            (key.replacen("atk", "ATK", 1), FormatIssue::Prefix),
            (key.replacen("atk_", "atk-", 1), FormatIssue::Prefix),
            (format!(" {key}"), FormatIssue::Prefix),
            (key.replacen("live", "prod", 1), FormatIssue::Environment),
            (key.replacen("live", "Live", 1), FormatIssue::Environment),
            ("atk_live".to_owned(), FormatIssue::Environment),
            (format!("{key} "), FormatIssue::Length),
            (format!("{key}\n"), FormatIssue::Length),
            (key[..key.len() - 1].to_owned(), FormatIssue::Length),
            (key.replacen("0123abcd", "0123ABCD", 1), FormatIssue::Id),
            (key.replacen("d_0", "d-0", 1), FormatIssue::Separator),
            (key.replacen("aabb", "AABB", 1), FormatIssue::Secret),
            (key.replacen("aabb", "aab\u{e9}", 1), FormatIssue::Length),
            (key.replacen("aabb", "aa\u{e9}", 1), FormatIssue::Secret),
        ];
        for (bad, issue) in cases {
            assert_eq!(
                parse(bad).unwrap_err(),
                ParseError::Format(*issue),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_wrong_checksum_is_told_apart_from_a_bad_format() {
        let key = valid();
        let last = key.chars().last().unwrap();
        let other = if last == '0' { '1' } else { '0' };
        let bad = format!("{}{other}", &key[..key.len() - 1]);
        let err = parse(&bad).unwrap_err();
        assert_eq!(err, ParseError::Checksum);
        assert!(err.is_checksum() && !err.is_format());
        assert!(ParseError::Format(FormatIssue::Id).is_format());
    }

    #[test]
    fn every_single_substitution_of_a_fixed_key_is_rejected() {
        // Exhaustive over positions and over every ASCII character plus a few non-ASCII ones:
        // CRC32 catches every error burst of up to 32 bits, so any one changed hex digit is
        // caught, and every other change breaks the shape.
        let key = valid();
        let replacements = (0_u8..=127)
            .map(char::from)
            .chain(['é', '\u{0}', '€', '🦀']);
        for replacement in replacements {
            for (pos, original) in key.char_indices() {
                if replacement == original {
                    continue;
                }
                let mut bad = key.clone();
                bad.replace_range(pos..=pos, replacement.encode_utf8(&mut [0; 4]));
                assert!(parse(&bad).is_err(), "{bad:?} was accepted");
            }
        }
    }

    #[test]
    fn error_messages_do_not_contain_the_key() {
        let key = valid();
        let bad = key.replacen("aabb", "AABB", 1);
        let message = parse(&bad).unwrap_err().to_string();
        assert_eq!(message, "malformed API key (secret is not lowercase hex)");
        assert_eq!(
            ParseError::Checksum.to_string(),
            "API key checksum mismatch"
        );
    }
}
