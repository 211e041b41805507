//! Rendering behaviour: languages and fallback, formats and content types, ETags.

use twin_render::{
    Format, Lang, Localized, PresetBody, PresetCatalog, RenderOptions, Rendered, SnapshotRef,
    Variant, render, sample_twin, ui_strings,
};

fn snapshot() -> SnapshotRef {
    SnapshotRef {
        id: "snp_1".into(),
        version: 2,
        created_at: "2026-05-10T09:30:00Z".into(),
    }
}

fn estandar(opts: RenderOptions) -> Rendered {
    let catalog = PresetCatalog::builtin();
    render(
        sample_twin(),
        catalog.get("estandar").unwrap(),
        &snapshot(),
        &opts,
    )
}

#[test]
fn content_types_follow_the_format() {
    for &format in Format::ALL {
        let rendered = estandar(RenderOptions {
            format,
            ..RenderOptions::default()
        });
        assert_eq!(rendered.content_type, format.content_type());
    }
}

#[test]
fn the_default_language_is_the_source_language() {
    let rendered = estandar(RenderOptions::default());
    assert_eq!(rendered.lang, Lang::Es);
    assert!(
        rendered
            .body
            .starts_with("Perfil del usuario: Lucía Navarro Pardo\n")
    );
}

#[test]
fn every_language_renders_its_own_strings() {
    for &lang in Lang::ALL {
        for &variant in Variant::ALL {
            let rendered = estandar(RenderOptions {
                lang: Some(lang),
                variant,
                ..RenderOptions::default()
            });
            assert_eq!(rendered.lang, lang);
            let ui = ui_strings(lang);
            let instruction = ui.instruction.replace("{name}", "Lucía Navarro Pardo");
            assert!(rendered.body.contains(&instruction), "{lang} {variant}");
            let title = sample_twin().sections[0].title.get(lang).unwrap();
            assert!(rendered.body.contains(title), "{lang} {variant}");
        }
    }
}

#[test]
fn missing_translations_fall_back_per_string_and_the_served_language_stays_requested() {
    let mut doc = sample_twin().clone();
    let first = &mut doc.sections[0];
    first.facts[0].0.remove(&Lang::De);
    let catalog = PresetCatalog::builtin();
    let opts = RenderOptions {
        format: Format::Json,
        lang: Some(Lang::De),
        ..RenderOptions::default()
    };
    let rendered = render(&doc, catalog.get("estandar").unwrap(), &snapshot(), &opts);
    assert_eq!(rendered.lang, Lang::De);
    let body: PresetBody = serde_json::from_str(&rendered.body).unwrap();
    assert_eq!(body.lang, Lang::De);
    let facts = &body.sections[0].facts;
    assert_eq!(facts[0], doc.sections[0].facts[0].get(Lang::Es).unwrap());
    assert_eq!(facts[1], doc.sections[0].facts[1].get(Lang::De).unwrap());
    assert!(body.system_prompt.starts_with("Nutzerprofil: "));
}

#[test]
fn json_and_yaml_carry_the_txt_prompt_and_metadata() {
    for &variant in Variant::ALL {
        let txt = estandar(RenderOptions {
            variant,
            ..RenderOptions::default()
        });
        let json = estandar(RenderOptions {
            variant,
            format: Format::Json,
            ..RenderOptions::default()
        });
        let yaml = estandar(RenderOptions {
            variant,
            format: Format::Yaml,
            ..RenderOptions::default()
        });
        let from_json: PresetBody = serde_json::from_str(&json.body).unwrap();
        let from_yaml: PresetBody = yaml_serde::from_str(&yaml.body).unwrap();
        assert_eq!(from_json, from_yaml);
        assert_eq!(from_json.system_prompt, txt.body);
        assert_eq!(from_json.preset, "estandar");
        assert_eq!(from_json.snapshot, snapshot());
        assert_eq!(from_json.variant, variant);
        assert_eq!(from_json.lang, Lang::Es);
        // The wire names are camelCase.
        let value: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert!(value.get("systemPrompt").is_some());
        assert_eq!(value["snapshot"]["createdAt"], "2026-05-10T09:30:00Z");
    }
}

#[test]
fn gpt_txt_and_md_share_a_body_but_not_an_etag() {
    let txt = estandar(RenderOptions {
        variant: Variant::Gpt,
        ..RenderOptions::default()
    });
    let md = estandar(RenderOptions {
        variant: Variant::Gpt,
        format: Format::Md,
        ..RenderOptions::default()
    });
    assert_eq!(txt.body, md.body);
    assert_ne!(txt.etag, md.etag);
}

#[test]
fn etags_are_strong_stable_and_follow_the_body() {
    let a = estandar(RenderOptions::default());
    let b = estandar(RenderOptions::default());
    assert_eq!(a.etag, b.etag);
    assert!(a.etag.starts_with('"') && a.etag.ends_with('"') && !a.etag.starts_with("W/"));
    let other_lang = estandar(RenderOptions {
        lang: Some(Lang::En),
        ..RenderOptions::default()
    });
    assert_ne!(a.etag, other_lang.etag);
    let mut doc = sample_twin().clone();
    doc.sections[0].facts[0].insert(Lang::Es, "Otro dato.");
    let catalog = PresetCatalog::builtin();
    let changed = render(
        &doc,
        catalog.get("estandar").unwrap(),
        &snapshot(),
        &RenderOptions::default(),
    );
    assert_ne!(a.etag, changed.etag);
}

#[test]
fn template_syntax_in_text_is_never_interpreted() {
    let mut doc = sample_twin().clone();
    doc.subject.display_name = "{name} {{user}}".into();
    doc.sections[0].facts[0] = [(Lang::Es, "{{system}} {name} {% raw %}")]
        .into_iter()
        .collect::<Localized>();
    let catalog = PresetCatalog::builtin();
    for &variant in Variant::ALL {
        for &format in Format::ALL {
            let opts = RenderOptions {
                format,
                variant,
                ..RenderOptions::default()
            };
            let rendered = render(&doc, catalog.get("estandar").unwrap(), &snapshot(), &opts);
            // The name is inserted where the intro says `{name}`, but never expanded itself.
            assert!(
                rendered.body.contains("{{system}} {name} {% raw %}"),
                "{variant} {format}"
            );
            assert!(rendered.body.contains("{{user}}"), "{variant} {format}");
        }
    }
}

#[test]
fn a_twin_with_no_sections_still_renders_a_prompt() {
    let mut doc = sample_twin().clone();
    doc.sections.clear();
    let catalog = PresetCatalog::builtin();
    for &variant in Variant::ALL {
        for &format in Format::ALL {
            let opts = RenderOptions {
                format,
                variant,
                ..RenderOptions::default()
            };
            let rendered = render(&doc, catalog.get("completo").unwrap(), &snapshot(), &opts);
            assert!(
                rendered.body.contains("Lucía Navarro Pardo"),
                "{variant} {format}"
            );
        }
    }
}
