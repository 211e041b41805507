//! Parsing and validating twin documents.
//!
//! Validation runs in three layers, cheapest first, and stops at the first error:
//! 1. size: at most [`MAX_DOCUMENT_BYTES`];
//! 2. the published JSON Schema (`schema/pcp.schema.json`, compiled once);
//! 3. what a JSON Schema cannot say: every localized map has a non-blank entry for
//!    `sourceLang`, and section keys are unique. This layer also re-checks the bounds and the
//!    key pattern, so that [`TwinDocument::validate`] is complete for documents built in code
//!    (which never meet the schema).
//!
//! Every error carries the JSON Pointer of the offending value (`/sections/2/facts/0/es`; `""`
//! is the whole document) and a short human message. For a missing source-language entry the
//! pointer names the entry that should exist.

use std::collections::HashMap;
use std::io;
use std::sync::LazyLock;

use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde::Deserialize;
use serde_json::Value;

use crate::document::{
    MAX_DOCUMENT_BYTES, MAX_FACTS_PER_SECTION, MAX_KEY_LEN, MAX_SECTIONS, MAX_STRING_CHARS,
    SCHEMA_VERSION, is_blank, is_valid_key,
};
use crate::{Localized, TwinDocument};

/// The JSON Schema (draft 2020-12) of twin documents, as published in
/// `crates/twin-render/schema/pcp.schema.json`.
pub const PCP_SCHEMA_JSON: &str = include_str!("../schema/pcp.schema.json");

/// Longest message kept from a schema error: messages may quote the offending value, which can
/// be a 4,000-character string or a whole object.
const MAX_MESSAGE_CHARS: usize = 200;

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value =
        serde_json::from_str(PCP_SCHEMA_JSON).expect("the bundled PCP schema is valid JSON");
    jsonschema::draft202012::new(&schema).expect("the bundled PCP schema compiles")
});

/// Why a twin document was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The document is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("document is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not JSON.
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    InvalidJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser said.
        message: String,
    },
    /// The JSON is not a valid twin document.
    #[error("{}: {message}", if path.is_empty() { "(document)" } else { path.as_str() })]
    Invalid {
        /// JSON Pointer of the first offending value (`""` for the whole document).
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl DocumentError {
    /// JSON Pointer of the offending value; `""` (the whole document) for size and syntax errors.
    pub fn path(&self) -> &str {
        match self {
            DocumentError::Invalid { path, .. } => path,
            DocumentError::TooLarge { .. } | DocumentError::InvalidJson { .. } => "",
        }
    }

    fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        DocumentError::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Parses and fully validates a twin document from JSON bytes.
///
/// Rejects documents over [`MAX_DOCUMENT_BYTES`] before parsing them.
pub fn parse_document(bytes: &[u8]) -> Result<TwinDocument, DocumentError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            size: bytes.len(),
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|err| DocumentError::InvalidJson {
        line: err.line(),
        column: err.column(),
        message: err.to_string(),
    })?;
    validate_parsed(&value)
}

/// Fully validates an already parsed twin document (e.g. one embedded in a larger request body).
///
/// The size limit applies to the value's compact JSON serialisation, which is measured without
/// building it.
pub fn validate_value(value: &Value) -> Result<TwinDocument, DocumentError> {
    let mut counter = ByteCounter(0);
    // Writing a `Value` to an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    if counter.0 > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge {
            size: counter.0,
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    validate_parsed(value)
}

fn validate_parsed(value: &Value) -> Result<TwinDocument, DocumentError> {
    if let Err(err) = VALIDATOR.validate(value) {
        return Err(DocumentError::invalid(
            err.instance_path().as_str(),
            schema_message(&err),
        ));
    }
    // The schema admits exactly what the model deserializes, so this only fails on values the
    // schema accepts but serde does not (such as `schemaVersion: 1.0`).
    let doc = TwinDocument::deserialize(value)
        .map_err(|err| DocumentError::invalid("", err.to_string()))?;
    doc.validate()?;
    Ok(doc)
}

/// A readable message for a schema error, without quoting huge values.
fn schema_message(err: &jsonschema::ValidationError<'_>) -> String {
    match err.kind() {
        ValidationErrorKind::MaxLength { limit } => {
            format!("string is longer than {limit} characters")
        }
        ValidationErrorKind::MaxItems { limit } => format!("more than {limit} items"),
        ValidationErrorKind::Pattern { pattern } => {
            format!("does not match the pattern {pattern}")
        }
        _ => truncate(&err.to_string(), MAX_MESSAGE_CHARS),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TwinDocument {
    /// Checks everything the spec requires of a document that the type system does not: the
    /// schema version, bounds, key pattern and uniqueness, a non-blank display name and a
    /// non-blank source-language entry in every localized map.
    ///
    /// [`crate::parse_document`] and [`crate::validate_value`] call this after the schema; call
    /// it directly on documents built in code.
    pub fn validate(&self) -> Result<(), DocumentError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(DocumentError::invalid(
                "/schemaVersion",
                format!(
                    "unsupported schema version {}; expected {SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        let name = &self.subject.display_name;
        if too_long(name) {
            return Err(DocumentError::invalid(
                "/subject/displayName",
                format!("string is longer than {MAX_STRING_CHARS} characters"),
            ));
        }
        if is_blank(name) {
            return Err(DocumentError::invalid(
                "/subject/displayName",
                "must not be empty",
            ));
        }
        if self.sections.len() > MAX_SECTIONS {
            return Err(DocumentError::invalid(
                "/sections",
                format!(
                    "{} sections; at most {MAX_SECTIONS} are allowed",
                    self.sections.len()
                ),
            ));
        }
        let source = self.source_lang;
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(self.sections.len());
        for (i, section) in self.sections.iter().enumerate() {
            if !is_valid_key(&section.key) {
                return Err(DocumentError::invalid(
                    format!("/sections/{i}/key"),
                    format!(
                        "section key must match ^[a-z][a-z0-9_]{{0,{}}}$",
                        MAX_KEY_LEN - 1
                    ),
                ));
            }
            if let Some(first) = seen.insert(&section.key, i) {
                return Err(DocumentError::invalid(
                    format!("/sections/{i}/key"),
                    format!(
                        "duplicate section key {:?} (already used by /sections/{first})",
                        section.key
                    ),
                ));
            }
            check_localized(|| format!("/sections/{i}/title"), &section.title, source)?;
            if section.facts.len() > MAX_FACTS_PER_SECTION {
                return Err(DocumentError::invalid(
                    format!("/sections/{i}/facts"),
                    format!(
                        "{} facts; at most {MAX_FACTS_PER_SECTION} are allowed per section",
                        section.facts.len()
                    ),
                ));
            }
            for (j, fact) in section.facts.iter().enumerate() {
                check_localized(|| format!("/sections/{i}/facts/{j}"), fact, source)?;
            }
            if let Some(narrative) = &section.narrative {
                check_localized(|| format!("/sections/{i}/narrative"), narrative, source)?;
            }
        }
        Ok(())
    }
}

/// Checks one localized map; `path` builds its JSON Pointer, only when there is an error.
fn check_localized(
    path: impl Fn() -> String,
    text: &Localized,
    source: crate::Lang,
) -> Result<(), DocumentError> {
    for (lang, value) in text.iter() {
        if too_long(value) {
            return Err(DocumentError::invalid(
                format!("{}/{lang}", path()),
                format!("string is longer than {MAX_STRING_CHARS} characters"),
            ));
        }
    }
    if text.get(source).is_none() {
        return Err(DocumentError::invalid(
            format!("{}/{source}", path()),
            format!("a non-empty entry for the source language \"{source}\" is required"),
        ));
    }
    Ok(())
}

fn too_long(text: &str) -> bool {
    // Cheap pre-check: a string of at most MAX_STRING_CHARS bytes has at most that many chars.
    text.len() > MAX_STRING_CHARS && text.chars().count() > MAX_STRING_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_compiles_and_agrees_with_the_code_limits() {
        let schema: Value = serde_json::from_str(PCP_SCHEMA_JSON).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(
            schema["properties"]["schemaVersion"]["const"],
            SCHEMA_VERSION
        );
        assert_eq!(schema["properties"]["sections"]["maxItems"], MAX_SECTIONS);
        let defs = &schema["$defs"];
        assert_eq!(defs["text"]["maxLength"], MAX_STRING_CHARS);
        assert_eq!(
            defs["section"]["properties"]["facts"]["maxItems"],
            MAX_FACTS_PER_SECTION
        );
        assert_eq!(
            defs["section"]["properties"]["key"]["pattern"],
            format!("^[a-z][a-z0-9_]{{0,{}}}$", MAX_KEY_LEN - 1)
        );
        let langs: Vec<&str> = defs["lang"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(langs, crate::Lang::ALLOWED);
        let localized: Vec<&String> = defs["localized"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(localized.len(), crate::Lang::ALL.len());
        LazyLock::force(&VALIDATOR);
    }

    #[test]
    fn long_messages_are_truncated_on_a_char_boundary() {
        let text = "é".repeat(300);
        let cut = truncate(&text, 10);
        assert_eq!(cut, format!("{}…", "é".repeat(10)));
        assert_eq!(truncate("short", 10), "short");
    }
}
