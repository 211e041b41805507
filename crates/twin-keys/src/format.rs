//! Key formats: how a key is laid out, how it is generated and how it is parsed.

use std::borrow::Cow;
use std::fmt::Write as _;

use zeroize::Zeroizing;

use crate::parse::{FormatIssue, Layout, ParseError, ParsedKey};
use crate::plain::PlainKey;

/// Number of hex characters the CRC32 checksum takes at the end of the secret.
pub const CHECKSUM_LEN: usize = 8;

/// Longest id segment a [`KeyFormat`] accepts, in hex characters.
pub const MAX_ID_LEN: usize = 64;

/// Longest secret segment a [`KeyFormat`] accepts, in hex characters.
pub const MAX_SECRET_LEN: usize = 128;

/// Fewest random hex characters a secret must carry (64 bits), checksum excluded.
///
/// Anything shorter could be found by brute force against a rate-limited API in a
/// realistic time, so such a format is refused rather than documented as a footgun.
pub const MIN_RANDOM_LEN: usize = 16;

/// Longest prefix word a [`KeyFormat`] accepts.
pub const MAX_PREFIX_LEN: usize = 32;

/// Longest environment name a [`KeyFormat`] accepts.
pub const MAX_ENV_LEN: usize = 32;

// Big enough for the longest id plus the longest secret; lets `generate` draw all its
// randomness into one stack buffer with a single `getrandom` call.
const MAX_RANDOM_BYTES: usize = MAX_ID_LEN / 2 + MAX_SECRET_LEN / 2;

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

const TWIN_ENVS: &[Cow<'static, str>] = &[Cow::Borrowed("live"), Cow::Borrowed("test")];
const LIVE_ONLY: &[Cow<'static, str>] = &[Cow::Borrowed("live")];

/// Which leading part of a key is its *display prefix*: the part that is safe to show in
/// logs, dashboards and audit views, and that identifies the key to a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisplayPrefix {
    /// Everything before the secret: `<prefix>_<env>_<id>`. Requires an id segment.
    UpToId,
    /// The first `n` characters of the key, whatever they are (e.g. `af_live_3f9a` is
    /// `Chars(12)`). With environments of different lengths this shows a different number of
    /// secret characters per environment; prefer [`DisplayPrefix::SecretChars`] then.
    Chars(usize),
    /// Everything before the secret plus its first `n` characters (e.g. `af_live_3f9a` is
    /// also `SecretChars(4)`). The default for formats without an id segment.
    SecretChars(usize),
}

/// The layout of a family of API keys: `<prefix>_<env>[_<id>]_<secret>`.
///
/// * `prefix` is a fixed word (it may contain `_`, e.g. `uk_afa`);
/// * `env` is one of a fixed list of environment names (e.g. `live`, `test`);
/// * `id` is an optional public identifier of `id_len` lowercase hex characters (the segment
///   and its separator are absent when `id_len` is 0);
/// * `secret` is `secret_len` lowercase hex characters. With the checksum on, its last
///   [`CHECKSUM_LEN`] characters are the CRC32 (IEEE) of everything before them, written as
///   big-endian hex, so typos and made-up keys are rejected without a database lookup.
///
/// Everything random (id and secret) comes from the operating system's CSPRNG.
/// [`KeyFormat::twin()`] is the Twin API's own format; [`KeyFormat::builder`] describes others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFormat {
    // `Cow` so that `twin()` is a `const fn` that allocates nothing: parsing with the default
    // format on a hot path costs no more than parsing with a format stored in a static.
    prefix: Cow<'static, str>,
    envs: Cow<'static, [Cow<'static, str>]>,
    id_len: usize,
    secret_len: usize,
    checksum: bool,
    display: DisplayPrefix,
}

impl KeyFormat {
    /// The Twin API format, `atk_<live|test>_<8 hex id>_<32 hex secret>`, checksum on,
    /// display prefix `atk_<env>_<id>`.
    ///
    /// It matches `^atk_(live|test)_[0-9a-f]{8}_[0-9a-f]{32}$`. Calling it is free (no
    /// allocation), so there is no need to cache it.
    #[must_use]
    pub const fn twin() -> Self {
        Self {
            prefix: Cow::Borrowed("atk"),
            envs: Cow::Borrowed(TWIN_ENVS),
            id_len: 8,
            secret_len: 32,
            checksum: true,
            display: DisplayPrefix::UpToId,
        }
    }

    /// The Twin API's OAuth access tokens (SPEC §14):
    /// `ato_live_<16 hex id>_<40 hex secret>`, checksum on, display prefix up to the id.
    /// Grants are live, so `live` is the only environment.
    ///
    /// ```
    /// use twin_keys::KeyFormat;
    /// let token = KeyFormat::twin_access_token().generate("live").unwrap();
    /// assert!(token.expose_secret().starts_with("ato_live_"));
    /// assert!(KeyFormat::twin_access_token().parse(token.expose_secret()).is_ok());
    /// assert!(KeyFormat::twin().parse(token.expose_secret()).is_err());
    /// ```
    #[must_use]
    pub const fn twin_access_token() -> Self {
        Self::twin_token("ato")
    }

    /// The Twin API's OAuth refresh tokens: as [`KeyFormat::twin_access_token`] with the
    /// prefix `atr`.
    #[must_use]
    pub const fn twin_refresh_token() -> Self {
        Self::twin_token("atr")
    }

    const fn twin_token(prefix: &'static str) -> Self {
        Self {
            prefix: Cow::Borrowed(prefix),
            envs: Cow::Borrowed(LIVE_ONLY),
            id_len: 16,
            secret_len: 40,
            checksum: true,
            display: DisplayPrefix::UpToId,
        }
    }

    /// Starts describing another format with the given prefix word.
    ///
    /// Defaults: environments `live` and `test`, no id segment, a 64-hex-character secret,
    /// no checksum, display prefix [`DisplayPrefix::UpToId`] when there is an id and
    /// [`DisplayPrefix::SecretChars`]`(4)` otherwise.
    pub fn builder(prefix: impl Into<String>) -> KeyFormatBuilder {
        KeyFormatBuilder {
            prefix: prefix.into(),
            envs: vec!["live".to_owned(), "test".to_owned()],
            id_len: 0,
            secret_len: 64,
            checksum: false,
            display: None,
        }
    }

    /// The prefix word, without its trailing `_`.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The allowed environment names, in the order they were given.
    #[must_use = "iterators are lazy"]
    pub fn environments(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.envs.iter().map(|env| &**env)
    }

    /// Length of the id segment in hex characters (0: no id segment).
    #[must_use]
    pub fn id_len(&self) -> usize {
        self.id_len
    }

    /// Length of the secret segment in hex characters, checksum included.
    #[must_use]
    pub fn secret_len(&self) -> usize {
        self.secret_len
    }

    /// Whether the last [`CHECKSUM_LEN`] characters of the secret are a CRC32.
    #[must_use]
    pub fn has_checksum(&self) -> bool {
        self.checksum
    }

    /// How the display prefix is cut.
    #[must_use]
    pub fn display_prefix(&self) -> DisplayPrefix {
        self.display
    }

    /// Number of random hex characters in the secret (checksum excluded).
    #[must_use]
    pub fn random_len(&self) -> usize {
        if self.checksum {
            self.secret_len - CHECKSUM_LEN
        } else {
            self.secret_len
        }
    }

    /// Total length of a key for `env`, or `None` if `env` is not one of this format's.
    #[must_use]
    pub fn key_len(&self, env: &str) -> Option<usize> {
        self.find_env(env).map(|env| self.layout(env.len()).len)
    }

    /// A regular expression matching exactly the keys of this format (checksum aside), for
    /// documentation and for secret scanners, e.g.
    /// `^atk_(live|test)_[0-9a-f]{8}_[0-9a-f]{32}$` for [`KeyFormat::twin()`].
    ///
    /// No escaping is needed: prefixes and environment names are restricted to ASCII
    /// letters, digits and `_`.
    #[must_use]
    pub fn regex(&self) -> String {
        let mut re = format!("^{}_(", self.prefix);
        for (i, env) in self.envs.iter().enumerate() {
            if i > 0 {
                re.push('|');
            }
            re.push_str(env);
        }
        re.push_str(")_");
        if self.id_len > 0 {
            // Writing to a String cannot fail.
            let _ = write!(re, "[0-9a-f]{{{}}}_", self.id_len);
        }
        let _ = write!(re, "[0-9a-f]{{{}}}$", self.secret_len);
        re
    }

    /// Generates a fresh key for `env`.
    ///
    /// The id and the secret's random part come from the operating system's CSPRNG. The id
    /// is random too, so callers that need it unique retry on a collision.
    ///
    /// # Errors
    /// [`KeyError::UnknownEnvironment`] if `env` is not one of this format's environments,
    /// [`KeyError::Random`] if the operating system cannot provide random bytes.
    pub fn generate(&self, env: &str) -> Result<PlainKey, KeyError> {
        let env = self
            .find_env(env)
            .ok_or_else(|| KeyError::UnknownEnvironment(env.to_owned()))?;
        let layout = self.layout(env.len());
        let random_len = self.random_len();
        let id_bytes = self.id_len.div_ceil(2);
        let secret_bytes = random_len.div_ceil(2);

        // Wiped on drop so that the secret's raw bytes do not linger on the stack.
        let mut random = Zeroizing::new([0_u8; MAX_RANDOM_BYTES]);
        let random = &mut random[..id_bytes + secret_bytes];
        getrandom::fill(random).map_err(KeyError::Random)?;
        let (id_random, secret_random) = random.split_at(id_bytes);

        // Exact capacity: the string never reallocates, so no copy of the secret is left
        // behind in freed memory that `PlainKey`'s zeroizing drop cannot reach.
        let mut key = String::with_capacity(layout.len);
        key.push_str(&self.prefix);
        key.push('_');
        key.push_str(env);
        key.push('_');
        if self.id_len > 0 {
            push_hex(&mut key, id_random, self.id_len);
            key.push('_');
        }
        push_hex(&mut key, secret_random, random_len);
        if self.checksum {
            let crc = crc32fast::hash(key.as_bytes());
            push_hex(&mut key, &crc.to_be_bytes(), CHECKSUM_LEN);
        }
        debug_assert_eq!(key.len(), layout.len);
        debug_assert_eq!(key.capacity(), layout.len);
        Ok(PlainKey::new(key, layout))
    }

    /// Parses `key`, borrowing from it (no allocation).
    ///
    /// Accepts exactly the strings [`KeyFormat::regex`] describes and, when the format has a
    /// checksum, whose checksum is right. Anything else (uppercase hex, whitespace, extra or
    /// missing characters, non-ASCII) is rejected.
    ///
    /// # Errors
    /// [`ParseError::Format`] when the key does not have the format's shape,
    /// [`ParseError::Checksum`] when it has the shape but its checksum is wrong.
    pub fn parse<'a>(&self, key: &'a str) -> Result<ParsedKey<'a>, ParseError> {
        let bytes = key.as_bytes();
        let after_prefix = bytes
            .strip_prefix(self.prefix.as_bytes())
            .and_then(|rest| rest.strip_prefix(b"_"))
            .ok_or(ParseError::Format(FormatIssue::Prefix))?;
        // Environment names contain no `_`, so at most one of them followed by `_` matches.
        let env = self
            .envs
            .iter()
            .find(|env| {
                after_prefix
                    .strip_prefix(env.as_bytes())
                    .is_some_and(|rest| rest.first() == Some(&b'_'))
            })
            .ok_or(ParseError::Format(FormatIssue::Environment))?;
        let layout = self.layout(env.len());
        if bytes.len() != layout.len {
            return Err(ParseError::Format(FormatIssue::Length));
        }
        if !is_lower_hex(&bytes[layout.id_start..layout.id_end]) {
            return Err(ParseError::Format(FormatIssue::Id));
        }
        if self.id_len > 0 && bytes[layout.id_end] != b'_' {
            return Err(ParseError::Format(FormatIssue::Separator));
        }
        if !is_lower_hex(&bytes[layout.secret_start..]) {
            return Err(ParseError::Format(FormatIssue::Secret));
        }
        if self.checksum {
            let (covered, written) = bytes.split_at(layout.len - CHECKSUM_LEN);
            if crc32fast::hash(covered) != decode_hex_u32(written) {
                return Err(ParseError::Checksum);
            }
        }
        // Every byte has now been checked to be ASCII, so every offset in `layout` falls on
        // a character boundary of `key`.
        Ok(ParsedKey::new(key, layout))
    }

    fn find_env(&self, env: &str) -> Option<&str> {
        self.envs.iter().map(|e| &**e).find(|e| *e == env)
    }

    fn layout(&self, env_len: usize) -> Layout {
        let env_start = self.prefix.len() + 1;
        let env_end = env_start + env_len;
        let id_start = env_end + 1;
        let id_end = id_start + self.id_len;
        let secret_start = if self.id_len > 0 {
            id_end + 1
        } else {
            id_start
        };
        let len = secret_start + self.secret_len;
        let display_end = match self.display {
            DisplayPrefix::UpToId => id_end,
            DisplayPrefix::Chars(n) => n,
            DisplayPrefix::SecretChars(n) => secret_start + n,
        };
        Layout {
            env_start,
            env_end,
            id_start,
            id_end,
            secret_start,
            display_end,
            len,
        }
    }
}

/// Builds a [`KeyFormat`] other than [`KeyFormat::twin()`]; see [`KeyFormat::builder`].
///
/// ```
/// use twin_keys::{DisplayPrefix, KeyFormat};
///
/// // AgentFlow: `af_live_<64 hex>`, shown as its first 12 characters.
/// let agentflow = KeyFormat::builder("af")
///     .environments(["live"])
///     .secret_len(64)
///     .display_prefix(DisplayPrefix::Chars(12))
///     .build()?;
/// let key = agentflow.generate("live")?;
/// assert_eq!(key.expose_secret().len(), 72);
/// assert_eq!(key.display_prefix().len(), 12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct KeyFormatBuilder {
    prefix: String,
    envs: Vec<String>,
    id_len: usize,
    secret_len: usize,
    checksum: bool,
    display: Option<DisplayPrefix>,
}

impl KeyFormatBuilder {
    /// Sets the allowed environment names (ASCII letters and digits, no `_`).
    pub fn environments<I, S>(mut self, envs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.envs = envs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the id segment's length in hex characters; 0 means no id segment.
    pub fn id_len(mut self, id_len: usize) -> Self {
        self.id_len = id_len;
        self
    }

    /// Sets the secret segment's length in hex characters, checksum included.
    pub fn secret_len(mut self, secret_len: usize) -> Self {
        self.secret_len = secret_len;
        self
    }

    /// Turns the CRC32 checksum at the end of the secret on or off.
    pub fn checksum(mut self, checksum: bool) -> Self {
        self.checksum = checksum;
        self
    }

    /// Sets how the display prefix is cut.
    pub fn display_prefix(mut self, display: DisplayPrefix) -> Self {
        self.display = Some(display);
        self
    }

    /// Checks the description and returns the format.
    ///
    /// # Errors
    /// A [`FormatConfigError`] naming the first rule the description breaks.
    pub fn build(self) -> Result<KeyFormat, FormatConfigError> {
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= MAX_PREFIX_LEN
            && !self.prefix.starts_with('_')
            && !self.prefix.ends_with('_')
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !prefix_ok {
            return Err(FormatConfigError::Prefix(self.prefix));
        }
        if self.envs.is_empty() {
            return Err(FormatConfigError::NoEnvironments);
        }
        for (i, env) in self.envs.iter().enumerate() {
            let env_ok = !env.is_empty()
                && env.len() <= MAX_ENV_LEN
                && env.bytes().all(|b| b.is_ascii_alphanumeric());
            if !env_ok {
                return Err(FormatConfigError::Environment(env.clone()));
            }
            if self.envs[..i].contains(env) {
                return Err(FormatConfigError::DuplicateEnvironment(env.clone()));
            }
        }
        if self.id_len > MAX_ID_LEN {
            return Err(FormatConfigError::IdLength(self.id_len));
        }
        let checksum_len = if self.checksum { CHECKSUM_LEN } else { 0 };
        if self.secret_len > MAX_SECRET_LEN || self.secret_len < MIN_RANDOM_LEN + checksum_len {
            return Err(FormatConfigError::SecretLength(self.secret_len));
        }
        let display = self.display.unwrap_or(if self.id_len > 0 {
            DisplayPrefix::UpToId
        } else {
            DisplayPrefix::SecretChars(4)
        });
        let format = KeyFormat {
            prefix: Cow::Owned(self.prefix),
            envs: Cow::Owned(self.envs.into_iter().map(Cow::Owned).collect()),
            id_len: self.id_len,
            secret_len: self.secret_len,
            checksum: self.checksum,
            display,
        };
        check_display_prefix(&format)?;
        Ok(format)
    }
}

/// A display prefix must identify the key without weakening it: it may show at most half of
/// the secret's random characters (an attacker who sees it still faces at least 32 bits, and
/// usually far more: `af_live_3f9a` leaves 240 of 256).
fn check_display_prefix(format: &KeyFormat) -> Result<(), FormatConfigError> {
    let display = format.display;
    let max_shown = format.random_len() / 2;
    let ok = match display {
        DisplayPrefix::UpToId => format.id_len > 0,
        DisplayPrefix::SecretChars(n) => n <= max_shown,
        // The shortest environment shows the most secret characters.
        DisplayPrefix::Chars(n) => {
            n > 0
                && format
                    .envs
                    .iter()
                    .all(|env| n.saturating_sub(format.layout(env.len()).secret_start) <= max_shown)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(FormatConfigError::DisplayPrefix(display))
    }
}

/// Appends the first `digits` lowercase hex digits of `bytes` (high nibble first).
fn push_hex(out: &mut String, bytes: &[u8], digits: usize) {
    let nibbles = bytes.iter().flat_map(|b| [b >> 4, b & 0x0f]).take(digits);
    for nibble in nibbles {
        out.push(char::from(LOWER_HEX[usize::from(nibble)]));
    }
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Decodes 8 lowercase hex digits already checked by [`is_lower_hex`].
fn decode_hex_u32(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, &d| {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            _ => d - b'a' + 10,
        };
        (acc << 4) | u32::from(nibble)
    })
}

/// Why [`KeyFormat::generate`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The requested environment is not one of the format's.
    #[error("unknown key environment `{0}`")]
    UnknownEnvironment(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(getrandom::Error),
}

/// Why [`KeyFormatBuilder::build`] refused a description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatConfigError {
    /// The prefix is empty, longer than [`MAX_PREFIX_LEN`], starts or ends with `_`, or has
    /// characters other than ASCII letters, digits and `_`.
    #[error("invalid key prefix `{0}`")]
    Prefix(String),
    /// No environment was given.
    #[error("a key format needs at least one environment")]
    NoEnvironments,
    /// An environment name is empty, longer than [`MAX_ENV_LEN`], or has characters other
    /// than ASCII letters and digits.
    #[error("invalid key environment `{0}`")]
    Environment(String),
    /// An environment name was given twice.
    #[error("duplicate key environment `{0}`")]
    DuplicateEnvironment(String),
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id length {0} is over the maximum of {MAX_ID_LEN}")]
    IdLength(usize),
    /// The secret is longer than [`MAX_SECRET_LEN`] or has fewer than [`MIN_RANDOM_LEN`]
    /// random characters once the checksum is taken out.
    #[error(
        "secret length {0} is out of range (at least {MIN_RANDOM_LEN} random hex characters \
         plus the checksum, at most {MAX_SECRET_LEN})"
    )]
    SecretLength(usize),
    /// The display prefix needs an id segment that the format lacks, is empty, or would show
    /// more than half of the secret's random characters.
    #[error("display prefix {0:?} does not fit the format")]
    DisplayPrefix(DisplayPrefix),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> KeyFormatBuilder {
        KeyFormat::builder("tk")
    }

    #[test]
    fn twin_format_has_the_spec_regex_and_lengths() {
        let twin = KeyFormat::twin();
        assert_eq!(twin.regex(), "^atk_(live|test)_[0-9a-f]{8}_[0-9a-f]{32}$");
        assert_eq!(twin.key_len("live"), Some(4 + 5 + 9 + 32));
        assert_eq!(twin.key_len("prod"), None);
        assert_eq!(twin.random_len(), 24);
        assert_eq!(twin.environments().collect::<Vec<_>>(), ["live", "test"]);
    }

    #[test]
    fn twin_format_built_by_hand_equals_the_constant() {
        let built = KeyFormat::builder("atk")
            .id_len(8)
            .secret_len(32)
            .checksum(true)
            .build()
            .unwrap();
        assert_eq!(built, KeyFormat::twin());
    }

    #[test]
    fn generated_twin_key_has_a_valid_checksum_written_as_big_endian_hex() {
        let key = KeyFormat::twin().generate("live").unwrap();
        let key = key.expose_secret();
        let (covered, written) = key.split_at(key.len() - 8);
        assert_eq!(
            written,
            format!("{:08x}", crc32fast::hash(covered.as_bytes()))
        );
    }

    #[test]
    fn generate_rejects_an_unknown_environment() {
        let err = KeyFormat::twin().generate("prod").unwrap_err();
        assert!(matches!(err, KeyError::UnknownEnvironment(ref env) if env == "prod"));
    }

    #[test]
    fn generated_keys_differ() {
        let twin = KeyFormat::twin();
        let a = twin.generate("test").unwrap();
        let b = twin.generate("test").unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn odd_lengths_are_generated_exactly() {
        let format = builder().id_len(5).secret_len(27).build().unwrap();
        let key = format.generate("live").unwrap();
        assert_eq!(key.id().unwrap().len(), 5);
        assert_eq!(key.expose_secret().len(), "tk_live_".len() + 6 + 27);
        format.parse(key.expose_secret()).unwrap();
    }

    #[test]
    fn builder_rejects_bad_prefixes() {
        for prefix in ["", "_tk", "tk_", "t-k", "tk!", "é", &"a".repeat(33)] {
            let err = KeyFormat::builder(prefix).build().unwrap_err();
            assert_eq!(
                err,
                FormatConfigError::Prefix(prefix.to_owned()),
                "{prefix:?}"
            );
        }
        assert!(KeyFormat::builder("uk_afa").build().is_ok());
    }

    #[test]
    fn builder_rejects_bad_environments() {
        let no_envs: [&str; 0] = [];
        assert_eq!(
            builder().environments(no_envs).build(),
            Err(FormatConfigError::NoEnvironments)
        );
        for env in ["", "a_b", "li ve", "é"] {
            assert_eq!(
                builder().environments([env]).build(),
                Err(FormatConfigError::Environment(env.to_owned()))
            );
        }
        assert_eq!(
            builder().environments(["live", "live"]).build(),
            Err(FormatConfigError::DuplicateEnvironment("live".to_owned()))
        );
    }

    #[test]
    fn builder_rejects_bad_lengths() {
        assert_eq!(
            builder().id_len(65).build(),
            Err(FormatConfigError::IdLength(65))
        );
        assert_eq!(
            builder().secret_len(129).build(),
            Err(FormatConfigError::SecretLength(129))
        );
        assert_eq!(
            builder().secret_len(15).build(),
            Err(FormatConfigError::SecretLength(15))
        );
        // 16 hex characters are enough on their own, not once 8 go to the checksum.
        assert!(builder().secret_len(16).build().is_ok());
        assert_eq!(
            builder().secret_len(16).checksum(true).build(),
            Err(FormatConfigError::SecretLength(16))
        );
        assert!(
            builder()
                .id_len(64)
                .secret_len(128)
                .checksum(true)
                .build()
                .is_ok()
        );
    }

    #[test]
    fn builder_rejects_display_prefixes_that_do_not_fit() {
        // No id segment to show.
        let up_to_id = DisplayPrefix::UpToId;
        assert_eq!(
            builder().display_prefix(up_to_id).build(),
            Err(FormatConfigError::DisplayPrefix(up_to_id))
        );
        // 64 random characters: showing 32 is the limit.
        assert!(
            builder()
                .display_prefix(DisplayPrefix::SecretChars(32))
                .build()
                .is_ok()
        );
        let too_many = DisplayPrefix::SecretChars(33);
        assert_eq!(
            builder().display_prefix(too_many).build(),
            Err(FormatConfigError::DisplayPrefix(too_many))
        );
        // `Chars` is judged on the shortest environment, which shows the most.
        let chars = DisplayPrefix::Chars("tk_ab_".len() + 33);
        assert_eq!(
            builder()
                .environments(["ab", "abcd"])
                .display_prefix(chars)
                .build(),
            Err(FormatConfigError::DisplayPrefix(chars))
        );
        assert_eq!(
            builder().display_prefix(DisplayPrefix::Chars(0)).build(),
            Err(FormatConfigError::DisplayPrefix(DisplayPrefix::Chars(0)))
        );
    }

    #[test]
    fn builder_defaults_the_display_prefix_to_the_id_or_four_secret_chars() {
        let with_id = builder().id_len(6).build().unwrap();
        assert_eq!(with_id.display_prefix(), DisplayPrefix::UpToId);
        let without_id = builder().build().unwrap();
        assert_eq!(without_id.display_prefix(), DisplayPrefix::SecretChars(4));
        let key = without_id.generate("test").unwrap();
        assert_eq!(key.display_prefix().len(), "tk_test_".len() + 4);
    }

    #[test]
    fn regex_describes_formats_without_id() {
        let format = KeyFormat::builder("uk_afa")
            .environments(["live"])
            .build()
            .unwrap();
        assert_eq!(format.regex(), "^uk_afa_(live)_[0-9a-f]{64}$");
    }

    #[test]
    fn push_hex_truncates_to_the_requested_digits() {
        let mut out = String::new();
        push_hex(&mut out, &[0xab, 0xcd], 3);
        assert_eq!(out, "abc");
    }

    #[test]
    fn decode_hex_u32_reads_big_endian() {
        assert_eq!(decode_hex_u32(b"deadbeef"), 0xdead_beef);
        assert_eq!(decode_hex_u32(b"00000001"), 1);
    }
}
