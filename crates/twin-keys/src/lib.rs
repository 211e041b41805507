#![doc = include_str!("../README.md")]

mod format;
mod hash;
mod parse;
mod plain;

pub use format::{
    CHECKSUM_LEN, DisplayPrefix, FormatConfigError, KeyError, KeyFormat, KeyFormatBuilder,
    MAX_ENV_LEN, MAX_ID_LEN, MAX_PREFIX_LEN, MAX_SECRET_LEN, MIN_RANDOM_LEN,
};
pub use hash::{
    DIGEST_LEN, HashAlgorithm, KeyHash, KeyHashError, KeyHasher, Pepper, PepperError,
    UnknownAlgorithm,
};
pub use parse::{FormatIssue, ParseError, ParsedKey};
pub use plain::PlainKey;

/// Parses `key` and checks it against a stored hash in one step, for callers that already
/// hold the hash (e.g. a single configured key). Servers that look keys up by id call
/// [`KeyFormat::parse`], fetch the row by [`ParsedKey::id`], then [`KeyHasher::verify`].
///
/// ```
/// use twin_keys::{KeyFormat, KeyHasher, VerifyError, parse_and_verify};
///
/// let format = KeyFormat::twin();
/// let hasher = KeyHasher::sha256();
/// let key = format.generate("live")?;
/// let stored = hasher.hash(key.expose_secret());
///
/// let parsed = parse_and_verify(&format, &hasher, key.expose_secret(), &stored)?;
/// assert_eq!(parsed.id(), key.id());
///
/// let other = format.generate("live")?;
/// assert_eq!(
///     parse_and_verify(&format, &hasher, other.expose_secret(), &stored).unwrap_err(),
///     VerifyError::Mismatch,
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`VerifyError::Parse`] if the key does not parse, [`VerifyError::Mismatch`] if it parses
/// but is not the key `stored` was made from.
pub fn parse_and_verify<'a>(
    format: &KeyFormat,
    hasher: &KeyHasher,
    key: &'a str,
    stored: &KeyHash,
) -> Result<ParsedKey<'a>, VerifyError> {
    let parsed = format.parse(key)?;
    if hasher.verify(parsed.expose_secret(), stored) {
        Ok(parsed)
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Why [`parse_and_verify`] rejected a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The key is malformed or its checksum is wrong.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The key is well formed but does not match the stored hash.
    #[error("API key does not match")]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_verify_reports_a_bad_checksum_before_hashing() {
        let hasher = KeyHasher::sha256();
        let key = KeyFormat::twin().generate("live").unwrap();
        let stored = hasher.hash(key.expose_secret());
        let mut bad = key.expose_secret().to_owned();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            parse_and_verify(&KeyFormat::twin(), &hasher, &bad, &stored).unwrap_err(),
            VerifyError::Parse(ParseError::Checksum)
        );
        assert!(matches!(
            parse_and_verify(&KeyFormat::twin(), &hasher, "atk_live", &stored),
            Err(VerifyError::Parse(ParseError::Format(_)))
        ));
    }
}
