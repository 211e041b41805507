//! Presets: which sections, facts and narratives a rendering includes, and its intro line.
//!
//! Presets are data (`data/presets.yaml`, or an operator's own file that replaces it), parsed
//! and validated once at start-up into a [`PresetCatalog`].

use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::document::{is_blank, is_valid_key};
use crate::{Lang, Localized, Section, TwinDocument};

/// The built-in presets file (`estandar`, `breve`, `completo`), a starting point for operators.
pub const BUILTIN_PRESETS_YAML: &str = include_str!("../data/presets.yaml");

/// Longest preset slug.
const MAX_SLUG_LEN: usize = 64;

static BUILTIN: LazyLock<PresetCatalog> = LazyLock::new(|| {
    PresetCatalog::from_yaml(BUILTIN_PRESETS_YAML).expect("the built-in presets are valid")
});

/// Why a presets file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// The file is not YAML of the expected shape (unknown field, wrong type, unknown language…).
    #[error("invalid presets file{}: {message}", location(*line, *column))]
    Yaml {
        /// What the YAML parser said.
        message: String,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
    },
    /// The file defines no preset at all.
    #[error("the presets file defines no preset")]
    Empty,
    /// One preset breaks a rule.
    #[error("preset {preset}: {message}")]
    Invalid {
        /// The preset's slug, or `#<index>` (0-based) when the slug itself is the problem.
        preset: String,
        /// What is wrong with it.
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

/// Which sections of a document a preset renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionSelection {
    /// Every section in document order, except the listed keys.
    All {
        /// Keys to leave out.
        exclude: Vec<String>,
    },
    /// Exactly these keys, in this order; keys the document lacks are skipped.
    Keys(Vec<String>),
}

/// One preset, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    slug: String,
    name: Localized,
    sections: SectionSelection,
    include_narratives: bool,
    max_facts_per_section: Option<usize>,
    intro: Localized,
}

impl Preset {
    /// The preset's slug (its URL path segment).
    pub fn slug(&self) -> &str {
        &self.slug
    }

    /// The localized display name, falling back to English and then to any language present;
    /// `None` when the preset has no name.
    pub fn name(&self, lang: Lang) -> Option<&str> {
        Some(self.name.resolve(lang, Lang::En)).filter(|name| !name.is_empty())
    }

    /// Which sections the preset renders.
    pub fn sections(&self) -> &SectionSelection {
        &self.sections
    }

    /// Whether narratives are included when the request does not say.
    pub fn include_narratives(&self) -> bool {
        self.include_narratives
    }

    /// How many facts per section are kept (the first ones); `None` keeps them all.
    pub fn max_facts_per_section(&self) -> Option<usize> {
        self.max_facts_per_section
    }

    /// The intro line template (with its `{name}` placeholder) for `lang`: that language, else
    /// `source` (the document's source language), else English, else the first one present.
    pub fn intro(&self, lang: Lang, source: Lang) -> &str {
        self.intro
            .get(lang)
            .or_else(|| self.intro.get(source))
            .unwrap_or_else(|| self.intro.resolve(Lang::En, Lang::En))
    }

    /// The document's sections this preset renders, in rendering order.
    pub fn select<'d>(&self, doc: &'d TwinDocument) -> Vec<&'d Section> {
        match &self.sections {
            SectionSelection::All { exclude } => doc
                .sections
                .iter()
                .filter(|section| !exclude.contains(&section.key))
                .collect(),
            SectionSelection::Keys(keys) => keys
                .iter()
                .filter_map(|key| doc.sections.iter().find(|section| section.key == *key))
                .collect(),
        }
    }
}

/// The set of presets a server offers, looked up by slug.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetCatalog {
    presets: Vec<Preset>,
}

impl PresetCatalog {
    /// The built-in presets (`estandar`, `breve`, `completo`), parsed once.
    pub fn builtin() -> PresetCatalog {
        BUILTIN.clone()
    }

    /// Parses and validates a presets file. It replaces the built-ins entirely.
    ///
    /// Rules: at least one preset; slugs match `^[a-z0-9][a-z0-9_-]{0,63}$` and are unique;
    /// section keys match the document key pattern and a list is not empty; `excludeSections`
    /// only goes with `sections: all`; `intro` has at least one non-blank language (the
    /// fallback for the others); unknown fields are errors.
    pub fn from_yaml(yaml: &str) -> Result<PresetCatalog, PresetError> {
        let file: PresetFile = yaml_serde::from_str(yaml).map_err(|err| {
            let location = err.location();
            PresetError::Yaml {
                message: err.to_string(),
                line: location.as_ref().map(|l| l.line()),
                column: location.as_ref().map(|l| l.column()),
            }
        })?;
        if file.presets.is_empty() {
            return Err(PresetError::Empty);
        }
        let mut presets: Vec<Preset> = Vec::with_capacity(file.presets.len());
        for (index, spec) in file.presets.into_iter().enumerate() {
            let preset = spec.validate(index)?;
            if presets.iter().any(|p| p.slug == preset.slug) {
                return Err(PresetError::Invalid {
                    message: format!("duplicate slug {:?}", preset.slug),
                    preset: format!("#{index}"),
                });
            }
            presets.push(preset);
        }
        Ok(PresetCatalog { presets })
    }

    /// The preset with this slug.
    pub fn get(&self, slug: &str) -> Option<&Preset> {
        self.presets.iter().find(|preset| preset.slug == slug)
    }

    /// Every slug, in file order.
    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.presets.iter().map(|preset| preset.slug.as_str())
    }

    /// Every preset, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Preset> {
        self.presets.iter()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetFile {
    presets: Vec<PresetSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PresetSpec {
    slug: String,
    #[serde(default)]
    name: Localized,
    sections: SectionsSpec,
    #[serde(default)]
    exclude_sections: Vec<String>,
    #[serde(default = "default_true")]
    include_narratives: bool,
    #[serde(default)]
    max_facts_per_section: Option<usize>,
    intro: Localized,
}

fn default_true() -> bool {
    true
}

impl PresetSpec {
    fn validate(self, index: usize) -> Result<Preset, PresetError> {
        if !is_valid_slug(&self.slug) {
            return Err(PresetError::Invalid {
                preset: format!("#{index}"),
                message: format!(
                    "slug {:?} must match ^[a-z0-9][a-z0-9_-]{{0,{}}}$",
                    self.slug,
                    MAX_SLUG_LEN - 1
                ),
            });
        }
        let invalid = |message: String| PresetError::Invalid {
            preset: self.slug.clone(),
            message,
        };
        let check_keys =
            |field: &str, keys: &[String]| match keys.iter().find(|key| !is_valid_key(key)) {
                Some(bad) => Err(invalid(format!(
                    "{field}: {bad:?} is not a valid section key (^[a-z][a-z0-9_]{{0,63}}$)"
                ))),
                None => Ok(()),
            };
        let sections = match self.sections {
            SectionsSpec::All => {
                check_keys("excludeSections", &self.exclude_sections)?;
                SectionSelection::All {
                    exclude: self.exclude_sections,
                }
            }
            SectionsSpec::Keys(keys) => {
                if keys.is_empty() {
                    return Err(invalid(
                        "sections: the list is empty (use `all` for every section)".into(),
                    ));
                }
                if !self.exclude_sections.is_empty() {
                    return Err(invalid(
                        "excludeSections only applies with `sections: all`".into(),
                    ));
                }
                check_keys("sections", &keys)?;
                if let Some(dup) = keys
                    .iter()
                    .enumerate()
                    .find(|(i, key)| keys[..*i].contains(key))
                {
                    return Err(invalid(format!("sections: {:?} is listed twice", dup.1)));
                }
                SectionSelection::Keys(keys)
            }
        };
        if Lang::ALL.iter().all(|&lang| self.intro.get(lang).is_none()) {
            return Err(invalid(
                "intro needs a non-empty line in at least one language (the fallback)".into(),
            ));
        }
        if self.name.iter().any(|(_, name)| is_blank(name)) {
            return Err(invalid("name: entries must not be empty".into()));
        }
        Ok(Preset {
            slug: self.slug,
            name: self.name,
            sections,
            include_narratives: self.include_narratives,
            max_facts_per_section: self.max_facts_per_section,
            intro: self.intro,
        })
    }
}

fn is_valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    let ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= MAX_SLUG_LEN
        && ok(&bytes[0])
        && bytes[1..].iter().all(|b| ok(b) || *b == b'_' || *b == b'-')
}

/// `sections:` is either the word `all` or a list of keys.
enum SectionsSpec {
    All,
    Keys(Vec<String>),
}

impl<'de> Deserialize<'de> for SectionsSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SectionsVisitor;

        impl<'de> Visitor<'de> for SectionsVisitor {
            type Value = SectionsSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`all` or a list of section keys")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SectionsSpec, E> {
                if value == "all" {
                    Ok(SectionsSpec::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SectionsSpec, A::Error> {
                let mut keys = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(key) = seq.next_element::<String>()? {
                    keys.push(key);
                }
                Ok(SectionsSpec::Keys(keys))
            }
        }

        deserializer.deserialize_any(SectionsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_the_three_spec_presets() {
        let catalog = PresetCatalog::builtin();
        assert_eq!(
            catalog.slugs().collect::<Vec<_>>(),
            ["estandar", "breve", "completo"]
        );
        let breve = catalog.get("breve").unwrap();
        assert!(!breve.include_narratives());
        assert_eq!(breve.max_facts_per_section(), Some(3));
        let completo = catalog.get("completo").unwrap();
        assert_eq!(
            completo.sections(),
            &SectionSelection::All { exclude: vec![] }
        );
        assert_eq!(completo.max_facts_per_section(), None);
        assert!(catalog.get("estandar").unwrap().include_narratives());
        assert!(catalog.get("nope").is_none());
    }

    #[test]
    fn builtin_presets_have_a_name_and_intro_in_every_language() {
        for preset in PresetCatalog::builtin().iter() {
            for &lang in Lang::ALL {
                assert!(preset.intro.get(lang).is_some(), "{} {lang}", preset.slug);
                assert!(preset.intro(lang, lang).contains("{name}"));
                assert!(preset.name.get(lang).is_some(), "{} {lang}", preset.slug);
            }
        }
    }

    #[test]
    fn slug_pattern() {
        for good in ["a", "0", "mi-preset_2", &"a".repeat(64)] {
            assert!(is_valid_slug(good), "{good}");
        }
        for bad in ["", "-a", "_a", "A", "a b", "a/b", "ñ", &"a".repeat(65)] {
            assert!(!is_valid_slug(bad), "{bad:?}");
        }
    }

    #[test]
    fn intro_falls_back_to_source_then_english_then_any() {
        let yaml = "presets:\n  - slug: p\n    sections: all\n    intro:\n      de: Hallo {name}\n      en: Hello {name}\n";
        let catalog = PresetCatalog::from_yaml(yaml).unwrap();
        let p = catalog.get("p").unwrap();
        assert_eq!(p.intro(Lang::De, Lang::Es), "Hallo {name}");
        assert_eq!(p.intro(Lang::Fr, Lang::De), "Hallo {name}");
        assert_eq!(p.intro(Lang::Fr, Lang::Es), "Hello {name}");
        let yaml = "presets:\n  - slug: p\n    sections: all\n    intro:\n      it: Ciao\n";
        let catalog = PresetCatalog::from_yaml(yaml).unwrap();
        assert_eq!(catalog.get("p").unwrap().intro(Lang::Fr, Lang::Es), "Ciao");
        assert_eq!(catalog.get("p").unwrap().name(Lang::Es), None);
        assert!(catalog.get("p").unwrap().include_narratives());
    }
}
