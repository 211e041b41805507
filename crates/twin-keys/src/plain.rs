//! The plaintext of a freshly generated key, as a secret type.

use std::fmt;

use zeroize::Zeroize;

use crate::parse::{Layout, ParsedKey};

/// A freshly generated key's plaintext, from [`crate::KeyFormat::generate`].
///
/// The plaintext is meant to be shown to its owner exactly once and hashed for storage. To
/// keep it out of logs by accident, `Debug` and `Display` show only the display prefix; the
/// plaintext itself takes an explicit [`PlainKey::expose_secret`]. The buffer is wiped when
/// the value is dropped, and the type is deliberately not `Clone`.
pub struct PlainKey {
    key: String,
    layout: Layout,
}

impl PlainKey {
    pub(crate) fn new(key: String, layout: Layout) -> Self {
        Self { key, layout }
    }

    /// The whole plaintext key. Return it to its owner once and hash it; never log it.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.key
    }

    /// The key's parts, without parsing it again.
    #[must_use]
    pub fn parsed(&self) -> ParsedKey<'_> {
        ParsedKey::new(&self.key, self.layout)
    }

    /// The environment, e.g. `live`.
    #[must_use]
    pub fn env(&self) -> &str {
        self.layout.env(&self.key)
    }

    /// The public id; `None` for formats without an id segment.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.layout.id(&self.key)
    }

    /// The display prefix, e.g. `atk_live_1a2b3c4d`: safe to show anywhere.
    #[must_use]
    pub fn display_prefix(&self) -> &str {
        self.layout.display_prefix(&self.key)
    }
}

impl Drop for PlainKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// Shows the display prefix followed by `…`.
impl fmt::Display for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.display_prefix())
    }
}

/// Shows the display prefix and `[redacted]` in place of the secret.
impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainKey")
            .field("display_prefix", &self.display_prefix())
            .field("secret", &format_args!("[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::KeyFormat;

    #[test]
    fn debug_and_display_redact_the_secret() {
        let key = KeyFormat::twin().generate("live").unwrap();
        let prefix = key.display_prefix().to_owned();
        let secret = &key.expose_secret()[prefix.len() + 1..];
        let debug = format!("{key:?}");
        let display = key.to_string();
        assert_eq!(
            debug,
            format!("PlainKey {{ display_prefix: {prefix:?}, secret: [redacted] }}")
        );
        assert_eq!(display, format!("{prefix}…"));
        for shown in [&debug, &display, &format!("{key:#?}")] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn accessors_agree_with_parsing_the_plaintext() {
        let key = KeyFormat::twin().generate("test").unwrap();
        let reparsed = KeyFormat::twin().parse(key.expose_secret()).unwrap();
        assert_eq!(key.env(), "test");
        assert_eq!(key.id(), reparsed.id());
        assert_eq!(key.display_prefix(), reparsed.display_prefix());
        assert_eq!(key.parsed().expose_secret(), reparsed.expose_secret());
        assert!(key.parsed().is_test());
        assert_eq!(
            key.display_prefix(),
            format!("atk_test_{}", key.id().unwrap())
        );
    }
}
