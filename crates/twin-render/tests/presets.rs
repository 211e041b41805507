//! Presets files: parsing, validation errors, and how presets shape a rendering.

use twin_render::{
    BUILTIN_PRESETS_YAML, Format, Lang, PresetBody, PresetCatalog, PresetError, RenderOptions,
    SectionSelection, SnapshotRef, Variant, render, sample_twin,
};

fn invalid(yaml: &str) -> (String, String) {
    match PresetCatalog::from_yaml(yaml) {
        Err(PresetError::Invalid { preset, message }) => (preset, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn yaml_error(yaml: &str) -> (String, Option<usize>) {
    match PresetCatalog::from_yaml(yaml) {
        Err(PresetError::Yaml { message, line, .. }) => (message, line),
        other => panic!("expected Yaml, got {other:?}"),
    }
}

const MINIMAL: &str =
    "presets:\n  - slug: mio\n    sections: all\n    intro:\n      es: Hola {name}\n";

#[test]
fn an_operator_file_replaces_the_builtins() {
    let catalog = PresetCatalog::from_yaml(MINIMAL).unwrap();
    assert_eq!(catalog.slugs().collect::<Vec<_>>(), ["mio"]);
    assert!(catalog.get("estandar").is_none());
    let preset = catalog.get("mio").unwrap();
    assert!(preset.include_narratives(), "narratives default to on");
    assert_eq!(preset.max_facts_per_section(), None);
    assert_eq!(
        preset.sections(),
        &SectionSelection::All { exclude: vec![] }
    );
}

#[test]
fn the_builtin_file_parses_to_the_builtin_catalog() {
    assert_eq!(
        PresetCatalog::from_yaml(BUILTIN_PRESETS_YAML).unwrap(),
        PresetCatalog::builtin()
    );
}

#[test]
fn yaml_syntax_errors_carry_a_line() {
    let (message, line) = yaml_error("presets:\n  - slug: x\n    sections: [a,\n  intro: {\n");
    assert!(line.is_some(), "{message}");
    let (_, line) = yaml_error("presets:\n  - slug: x\n\tsections: all\n");
    assert!(line.is_some());
}

#[test]
fn unknown_fields_are_errors() {
    let (message, _) = yaml_error(
        "presets:\n  - slug: x\n    sections: all\n    includeNarrative: false\n    intro:\n      es: Hola\n",
    );
    assert!(message.contains("includeNarrative"), "{message}");
    let (message, _) = yaml_error("preset: []\n");
    assert!(message.contains("preset"), "{message}");
}

#[test]
fn wrong_types_and_unknown_languages_are_errors() {
    let (message, _) =
        yaml_error("presets:\n  - slug: x\n    sections: some\n    intro:\n      es: Hola\n");
    assert!(message.contains("all"), "{message}");
    yaml_error("presets:\n  - slug: x\n    sections: all\n    intro:\n      xx: Hola\n");
    yaml_error(
        "presets:\n  - slug: x\n    sections: all\n    maxFactsPerSection: -1\n    intro:\n      es: Hola\n",
    );
    yaml_error("presets:\n  - slug: x\n    sections: all\n");
    yaml_error("presets:\n  - sections: all\n    intro:\n      es: Hola\n");
    yaml_error("");
}

#[test]
fn an_empty_file_of_presets_is_an_error() {
    assert_eq!(
        PresetCatalog::from_yaml("presets: []\n"),
        Err(PresetError::Empty)
    );
}

#[test]
fn bad_and_duplicate_slugs() {
    for slug in ["\"Bad Slug\"", "\"-x\"", "\"\"", "\"a/b\""] {
        let yaml =
            format!("presets:\n  - slug: {slug}\n    sections: all\n    intro:\n      es: Hola\n");
        let (preset, message) = invalid(&yaml);
        assert_eq!(preset, "#0");
        assert!(message.contains("slug"), "{message}");
    }
    let yaml = format!("{MINIMAL}{}", MINIMAL.trim_start_matches("presets:\n"));
    let (preset, message) = invalid(&yaml);
    assert_eq!(preset, "#1");
    assert!(message.contains("duplicate"), "{message}");
}

#[test]
fn intros_need_at_least_one_language() {
    let (preset, message) =
        invalid("presets:\n  - slug: x\n    sections: all\n    intro:\n      es: \"  \"\n");
    assert_eq!(preset, "x");
    assert!(message.contains("intro"), "{message}");
    invalid("presets:\n  - slug: x\n    sections: all\n    intro: {}\n");
}

#[test]
fn section_lists_are_checked() {
    let (_, message) =
        invalid("presets:\n  - slug: x\n    sections: []\n    intro:\n      es: Hola\n");
    assert!(message.contains("empty"), "{message}");
    let (_, message) =
        invalid("presets:\n  - slug: x\n    sections: [Bad-Key]\n    intro:\n      es: Hola\n");
    assert!(message.contains("Bad-Key"), "{message}");
    let (_, message) =
        invalid("presets:\n  - slug: x\n    sections: [a, a]\n    intro:\n      es: Hola\n");
    assert!(message.contains("twice"), "{message}");
    let (_, message) = invalid(
        "presets:\n  - slug: x\n    sections: [a]\n    excludeSections: [b]\n    intro:\n      es: Hola\n",
    );
    assert!(message.contains("excludeSections"), "{message}");
    invalid(
        "presets:\n  - slug: x\n    sections: all\n    excludeSections: [\"No\"]\n    intro:\n      es: Hola\n",
    );
    invalid(
        "presets:\n  - slug: x\n    sections: all\n    name:\n      es: \"\"\n    intro:\n      es: Hola\n",
    );
}

fn body(catalog: &PresetCatalog, slug: &str, opts: RenderOptions) -> PresetBody {
    let snapshot = SnapshotRef {
        id: "s".into(),
        version: 1,
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    let rendered = render(sample_twin(), catalog.get(slug).unwrap(), &snapshot, &opts);
    serde_json::from_str(&rendered.body).unwrap()
}

fn json() -> RenderOptions {
    RenderOptions {
        format: Format::Json,
        ..RenderOptions::default()
    }
}

fn keys(body: &PresetBody) -> Vec<&str> {
    body.sections.iter().map(|s| s.key.as_str()).collect()
}

#[test]
fn builtin_presets_shape_the_sample_twin() {
    let catalog = PresetCatalog::builtin();
    let estandar = body(&catalog, "estandar", json());
    assert_eq!(
        keys(&estandar),
        [
            "identity",
            "communication_style",
            "values_and_priorities",
            "work_and_expertise",
            "preferences_for_assistants",
            "boundaries"
        ]
    );
    assert!(estandar.sections.iter().all(|s| s.facts.len() <= 5));
    assert!(estandar.sections.iter().any(|s| s.narrative.is_some()));

    let breve = body(&catalog, "breve", json());
    assert_eq!(
        keys(&breve),
        [
            "identity",
            "communication_style",
            "preferences_for_assistants",
            "boundaries"
        ]
    );
    assert!(
        breve
            .sections
            .iter()
            .all(|s| s.facts.len() <= 3 && s.narrative.is_none())
    );

    let completo = body(&catalog, "completo", json());
    let all: Vec<&str> = sample_twin()
        .sections
        .iter()
        .map(|s| s.key.as_str())
        .collect();
    assert_eq!(keys(&completo), all);
    let facts: usize = completo.sections.iter().map(|s| s.facts.len()).sum();
    assert_eq!(
        facts,
        sample_twin()
            .sections
            .iter()
            .map(|s| s.facts.len())
            .sum::<usize>()
    );
}

#[test]
fn include_narratives_overrides_the_preset_default() {
    let catalog = PresetCatalog::builtin();
    let off = body(
        &catalog,
        "estandar",
        RenderOptions {
            include_narratives: Some(false),
            ..json()
        },
    );
    assert!(off.sections.iter().all(|s| s.narrative.is_none()));
    let on = body(
        &catalog,
        "breve",
        RenderOptions {
            include_narratives: Some(true),
            ..json()
        },
    );
    assert!(on.sections.iter().any(|s| s.narrative.is_some()));
}

#[test]
fn sections_follow_the_preset_order_skip_missing_keys_and_honour_exclusions() {
    let yaml = "presets:
  - slug: ordered
    sections: [boundaries, nonexistent, identity]
    intro: { en: Hi }
  - slug: most
    sections: all
    excludeSections: [interests, identity]
    intro: { en: Hi }
  - slug: narratives_only
    sections: all
    maxFactsPerSection: 0
    includeNarratives: true
    intro: { en: Hi }
";
    let catalog = PresetCatalog::from_yaml(yaml).unwrap();
    assert_eq!(
        keys(&body(&catalog, "ordered", json())),
        ["boundaries", "identity"]
    );
    let most = body(&catalog, "most", json());
    assert!(!keys(&most).contains(&"interests") && !keys(&most).contains(&"identity"));
    assert_eq!(most.sections.len(), sample_twin().sections.len() - 2);
    // With no facts and no narrative a section is omitted: `interests` has no narrative.
    let only = body(&catalog, "narratives_only", json());
    assert!(
        only.sections
            .iter()
            .all(|s| s.facts.is_empty() && s.narrative.is_some())
    );
    assert!(!keys(&only).contains(&"interests"));
    let none = body(
        &catalog,
        "narratives_only",
        RenderOptions {
            include_narratives: Some(false),
            ..json()
        },
    );
    assert!(none.sections.is_empty());
}

#[test]
fn intro_follows_the_served_language_with_fallbacks() {
    let yaml = "presets:\n  - slug: p\n    sections: all\n    intro:\n      en: \"Hello {name} {name}\"\n      fr: \"Bonjour {name}\"\n";
    let catalog = PresetCatalog::from_yaml(yaml).unwrap();
    let snapshot = SnapshotRef {
        id: "s".into(),
        version: 1,
        created_at: "t".into(),
    };
    let txt = |lang| {
        let opts = RenderOptions {
            lang: Some(lang),
            variant: Variant::Generic,
            ..RenderOptions::default()
        };
        render(sample_twin(), catalog.get("p").unwrap(), &snapshot, &opts).body
    };
    assert!(txt(Lang::Fr).contains("\nBonjour Lucía Navarro Pardo\n"));
    // German is missing, the twin's source (Spanish) too: English.
    assert!(txt(Lang::De).contains("\nHello Lucía Navarro Pardo Lucía Navarro Pardo\n"));
}
