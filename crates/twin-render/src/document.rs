//! The twin document (PCP) model, as serde types mirroring `schema/pcp.schema.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Lang;

/// The only document format version this crate understands.
pub const SCHEMA_VERSION: u32 = 1;
/// Largest accepted document, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Most sections a document may have.
pub const MAX_SECTIONS: usize = 64;
/// Most facts a section may have.
pub const MAX_FACTS_PER_SECTION: usize = 200;
/// Longest accepted string, in characters (Unicode scalar values, which is what JSON Schema's
/// `maxLength` counts), not bytes.
pub const MAX_STRING_CHARS: usize = 4000;
/// Longest section key (the key pattern is `^[a-z][a-z0-9_]{0,63}$`).
pub const MAX_KEY_LEN: usize = 64;

/// A twin document: a personal context profile, as ingested by operators.
///
/// Build one with [`crate::parse_document`] (bytes) or [`crate::validate_value`] (parsed JSON),
/// which check everything the spec requires; a document assembled in code can be checked with
/// [`TwinDocument::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TwinDocument {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The language the twin was written in; every localized map has a non-blank entry for it.
    pub source_lang: Lang,
    /// The person the twin describes.
    pub subject: Subject,
    /// Thematic sections, in document order.
    pub sections: Vec<Section>,
}

/// The person a twin describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// How the person is named in rendered prompts (not localized).
    pub display_name: String,
}

/// One thematic section of a twin (identity, communication style, boundaries…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Section {
    /// Stable identifier, unique in the document, matching `^[a-z][a-z0-9_]{0,63}$`.
    pub key: String,
    /// The section's heading.
    pub title: Localized,
    /// Short statements, most important first.
    pub facts: Vec<Localized>,
    /// Optional prose summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<Localized>,
}

/// The same text in several languages: a map from language to string.
///
/// A translation that is missing, empty or only whitespace counts as absent, and lookups fall
/// back to the document's source language (see [`Localized::resolve`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Localized(pub BTreeMap<Lang, String>);

impl Localized {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for `lang`, if it is present and not blank.
    pub fn get(&self, lang: Lang) -> Option<&str> {
        self.0
            .get(&lang)
            .map(String::as_str)
            .filter(|text| !is_blank(text))
    }

    /// The text to serve for `lang`: its own entry, else the `fallback` language's entry, else
    /// the first non-blank entry in [`Lang::ALL`] order, else `""`. Never panics, so a document
    /// that skipped validation still renders.
    pub fn resolve(&self, lang: Lang, fallback: Lang) -> &str {
        self.get(lang)
            .or_else(|| self.get(fallback))
            .or_else(|| Lang::ALL.iter().find_map(|&other| self.get(other)))
            .unwrap_or("")
    }

    /// Sets the entry for `lang`, returning the previous one.
    pub fn insert(&mut self, lang: Lang, text: impl Into<String>) -> Option<String> {
        self.0.insert(lang, text.into())
    }

    /// The entries, in [`Lang::ALL`] order (blank ones included).
    pub fn iter(&self) -> impl Iterator<Item = (Lang, &str)> {
        self.0.iter().map(|(lang, text)| (*lang, text.as_str()))
    }
}

impl<S: Into<String>> FromIterator<(Lang, S)> for Localized {
    fn from_iter<I: IntoIterator<Item = (Lang, S)>>(iter: I) -> Self {
        Self(iter.into_iter().map(|(l, s)| (l, s.into())).collect())
    }
}

/// Whether a string has nothing but whitespace in it.
pub(crate) fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Whether `key` matches `^[a-z][a-z0-9_]{0,63}$` (checked by hand: no regex on any path).
pub fn is_valid_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_KEY_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pattern_matches_the_schema() {
        for good in ["a", "identity", "a_1", &"k".repeat(64)] {
            assert!(is_valid_key(good), "{good}");
        }
        for bad in [
            "",
            "1a",
            "_a",
            "A",
            "aB",
            "a-b",
            "a b",
            "a\n",
            "ñ",
            &"k".repeat(65),
        ] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn resolve_falls_back_to_the_source_language_when_missing_or_blank() {
        let text: Localized = [(Lang::Es, "hola"), (Lang::Fr, "  ")].into_iter().collect();
        assert_eq!(text.resolve(Lang::Es, Lang::Es), "hola");
        assert_eq!(text.resolve(Lang::En, Lang::Es), "hola");
        assert_eq!(text.resolve(Lang::Fr, Lang::Es), "hola");
        // A document that never went through validation still resolves to something.
        assert_eq!(text.resolve(Lang::De, Lang::It), "hola");
        assert_eq!(Localized::new().resolve(Lang::Es, Lang::Es), "");
    }
}
