//! The closed vocabularies of the public API: languages, formats and variants.
//!
//! Each enum parses from its wire spelling (ASCII case-insensitively, so `EN` and `Md` are
//! accepted) and fails with an [`InvalidValue`] that names the parameter and its allowed values,
//! which is what the HTTP layer needs to answer `400 INVALID_PARAMETER`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value that is not one of a parameter's allowed spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for `{parameter}`; allowed values: {}", allowed.join(", "))]
pub struct InvalidValue {
    /// The query parameter's name as the public API spells it (`lang`, `format`, `variant`).
    pub parameter: &'static str,
    /// The rejected input, cut to at most 64 characters so a hostile value cannot bloat logs.
    pub value: String,
    /// Every allowed spelling, in the order the API documents them.
    pub allowed: &'static [&'static str],
}

impl InvalidValue {
    fn new(parameter: &'static str, value: &str, allowed: &'static [&'static str]) -> Self {
        Self {
            parameter,
            value: value.chars().take(64).collect(),
            allowed,
        }
    }
}

/// Declares a wire enum with `as_str`, `ALL`, `ALLOWED`, `Display` and `FromStr`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident, parameter = $param:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the API documents them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every wire spelling, in the same order as [`Self::ALL`].
            pub const ALLOWED: &'static [&'static str] = &[$($wire),+];
            /// The name of the query parameter that carries this value.
            pub const PARAMETER: &'static str = $param;

            /// The wire spelling (lowercase).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(
                    if s.eq_ignore_ascii_case($wire) {
                        return Ok($name::$variant);
                    }
                )+
                Err(InvalidValue::new($param, s, Self::ALLOWED))
            }
        }
    };
}

wire_enum! {
    /// One of the six languages a twin can be served in (ISO 639-1 codes).
    Lang, parameter = "lang" {
        /// Spanish.
        Es => "es",
        /// English.
        En => "en",
        /// French.
        Fr => "fr",
        /// German.
        De => "de",
        /// Italian.
        It => "it",
        /// Portuguese.
        Pt => "pt",
    }
}

wire_enum! {
    /// The container of a rendered preset: what the body is and its media type.
    ///
    /// `txt` and `md` bodies are the prompt itself; `json` and `yaml` bodies wrap the prompt
    /// (`systemPrompt`, the `txt` rendering) with metadata and the selected sections.
    #[derive(Default)]
    Format, parameter = "format" {
        /// The prompt as plain text in the variant's own shape (the default).
        #[default]
        Txt => "txt",
        /// The prompt as CommonMark, with all document text escaped for Markdown.
        Md => "md",
        /// A JSON object: `systemPrompt`, metadata and the selected sections.
        Json => "json",
        /// The same object as `json`, as YAML 1.2.
        Yaml => "yaml",
    }
}

impl Format {
    /// The `Content-Type` the body is served with.
    ///
    /// Text types carry an explicit `charset=utf-8`; JSON (RFC 8259) and YAML (RFC 9512) are
    /// UTF-8 by definition and their media types define no `charset` parameter.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Txt => "text/plain; charset=utf-8",
            Format::Md => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
            Format::Yaml => "application/yaml",
        }
    }

    /// The usual file extension (without a dot), for `Content-Disposition` file names.
    pub const fn extension(self) -> &'static str {
        self.as_str()
    }
}

wire_enum! {
    /// The shape of the prompt, tuned to what each model family's prompting guide recommends.
    ///
    /// See the crate documentation for the exact shape of each variant.
    #[derive(Default)]
    Variant, parameter = "variant" {
        /// XML-tagged sections (`<user_profile>`, `<section>`, `<facts>`, `<narrative>`).
        Claude => "claude",
        /// Markdown headings and bullet lists, instructions first.
        Gpt => "gpt",
        /// Labelled plain-text blocks, context first and instructions last.
        Gemini => "gemini",
        /// Plain readable text that any model (or person) can read (the default).
        #[default]
        Generic => "generic",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_its_wire_spelling() {
        for &lang in Lang::ALL {
            assert_eq!(lang.as_str().parse::<Lang>(), Ok(lang));
        }
        for &format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>(), Ok(format));
        }
        for &variant in Variant::ALL {
            assert_eq!(variant.as_str().parse::<Variant>(), Ok(variant));
        }
        assert_eq!(Lang::ALL.len(), Lang::ALLOWED.len());
    }

    #[test]
    fn parsing_is_ascii_case_insensitive() {
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert_eq!("Md".parse::<Format>(), Ok(Format::Md));
        assert_eq!("CLAUDE".parse::<Variant>(), Ok(Variant::Claude));
    }

    #[test]
    fn unknown_values_name_the_parameter_and_allowed_values() {
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(err.parameter, "format");
        assert_eq!(err.allowed, &["txt", "md", "json", "yaml"]);
        assert_eq!(
            err.to_string(),
            "invalid value \"xml\" for `format`; allowed values: txt, md, json, yaml"
        );
        let err = "en-US".parse::<Lang>().unwrap_err();
        assert_eq!(err.allowed, &["es", "en", "fr", "de", "it", "pt"]);
        let err = "llama".parse::<Variant>().unwrap_err();
        assert_eq!(err.allowed, &["claude", "gpt", "gemini", "generic"]);
    }

    #[test]
    fn rejected_values_are_truncated() {
        let long = "x".repeat(1000);
        let err = long.parse::<Lang>().unwrap_err();
        assert_eq!(err.value.chars().count(), 64);
    }

    #[test]
    fn defaults_match_the_spec() {
        assert_eq!(Format::default(), Format::Txt);
        assert_eq!(Variant::default(), Variant::Generic);
    }

    #[test]
    fn content_types_are_explicitly_utf8_where_the_type_allows_it() {
        assert_eq!(Format::Txt.content_type(), "text/plain; charset=utf-8");
        assert_eq!(Format::Md.content_type(), "text/markdown; charset=utf-8");
        assert_eq!(Format::Json.content_type(), "application/json");
        assert_eq!(Format::Yaml.content_type(), "application/yaml");
    }
}
