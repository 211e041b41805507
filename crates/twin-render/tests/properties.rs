//! Property tests: random documents full of markup, template syntax and control characters
//! render in every format × variant × language without panicking, and their text stays data.
//!
//! Oracles: `json` and `yaml` bodies parse back to the same [`PresetBody`], whose strings equal
//! the inputs; Markdown bodies parse (with GFM extensions) to exactly the structure the shape
//! writes; `claude` bodies are well-formed XML with only our tags; plain bodies have document
//! text only on indented or bulleted lines; ETags are stable and follow the body.

use std::collections::HashMap;

use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use twin_render::{
    Format, Lang, Localized, Preset, PresetBody, PresetCatalog, RenderOptions, Rendered, Section,
    SnapshotRef, Subject, TwinDocument, Variant, parse_document, render,
};

/// Characters that mean something in XML, Markdown, YAML, templates or terminals.
const SPECIALS: &[char] = &[
    '<', '>', '&', '{', '}', '#', ':', '*', '_', '`', '-', '+', '=', '[', ']', '(', ')', '!', '|',
    '~', '\\', '"', '\'', '.', '1', '9', '$', '%', '@', '^', ' ', ' ', '\t', '\n', '\n', '\r',
    '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{a0}', '\u{2028}', '\u{2029}',
    '\u{200b}', '\u{202e}', '\u{feff}', 'é', 'ß', '😀',
];

fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(SPECIALS),
        3 => prop::char::range('a', 'z'),
        2 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..max).prop_map(String::from_iter)
}

/// Text that counts as present for validation (not only whitespace).
fn nonblank(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_map(|s| if s.trim().is_empty() { s + "x" } else { s })
}

fn lang() -> impl Strategy<Value = Lang> {
    prop::sample::select(Lang::ALL)
}

/// A valid localized map: a non-blank source entry plus some other languages (possibly blank,
/// which must fall back).
fn localized(source: Lang, max: usize) -> impl Strategy<Value = Localized> {
    (
        nonblank(max),
        prop::collection::vec((lang(), text(max)), 0..4),
    )
        .prop_map(move |(src, others)| {
            let mut map = Localized::new();
            for (lang, text) in others {
                map.insert(lang, text);
            }
            map.insert(source, src);
            map
        })
}

fn section(source: Lang, index: usize) -> impl Strategy<Value = Section> {
    (
        "[a-z0-9_]{0,6}",
        localized(source, 20),
        prop::collection::vec(localized(source, 40), 0..5),
        prop::option::of(localized(source, 80)),
    )
        .prop_map(move |(suffix, title, facts, narrative)| Section {
            key: format!("k{index}{suffix}"),
            title,
            facts,
            narrative,
        })
}

fn valid_doc() -> impl Strategy<Value = TwinDocument> {
    (lang(), 0usize..5)
        .prop_flat_map(|(source, n)| {
            let sections: Vec<_> = (0..n).map(|i| section(source, i)).collect();
            (Just(source), nonblank(20), sections)
        })
        .prop_map(|(source_lang, name, sections)| TwinDocument {
            schema_version: 1,
            source_lang,
            subject: Subject { display_name: name },
            sections,
        })
}

/// Any document at all, valid or not: rendering must not care.
fn any_doc() -> impl Strategy<Value = TwinDocument> {
    let any_localized = || prop::collection::btree_map(lang(), text(30), 0..4).prop_map(Localized);
    let any_section = (
        text(10),
        any_localized(),
        prop::collection::vec(any_localized(), 0..4),
        prop::option::of(any_localized()),
    )
        .prop_map(|(key, title, facts, narrative)| Section {
            key,
            title,
            facts,
            narrative,
        });
    (
        any::<u32>(),
        lang(),
        text(20),
        prop::collection::vec(any_section, 0..4),
    )
        .prop_map(
            |(schema_version, source_lang, name, sections)| TwinDocument {
                schema_version,
                source_lang,
                subject: Subject { display_name: name },
                sections,
            },
        )
}

fn snapshot() -> SnapshotRef {
    SnapshotRef {
        id: "snp_<&>{{id}}".into(),
        version: -7,
        created_at: "no".into(),
    }
}

fn presets() -> Vec<Preset> {
    let custom = PresetCatalog::from_yaml(
        "presets:\n  - slug: short\n    sections: all\n    includeNarratives: false\n    maxFactsPerSection: 2\n    intro:\n      en: \"{name} <is> *here*: {{name}}\"\n",
    )
    .unwrap();
    vec![
        PresetCatalog::builtin().get("completo").unwrap().clone(),
        custom.get("short").unwrap().clone(),
    ]
}

/// The served text of one localized string, computed independently of the crate.
fn expected(text: &Localized, lang: Lang, source: Lang) -> String {
    let present = |l: Lang| text.0.get(&l).filter(|s| !s.trim().is_empty());
    present(lang)
        .or_else(|| present(source))
        .cloned()
        .unwrap_or_default()
}

/// What the crate should show for a valid document: `(key, title, facts, narrative)` per
/// non-empty section, for a preset that takes all sections.
fn expected_sections(
    doc: &TwinDocument,
    lang: Lang,
    max_facts: usize,
    narratives: bool,
) -> Vec<(String, String, Vec<String>, Option<String>)> {
    let source = doc.source_lang;
    doc.sections
        .iter()
        .map(|s| {
            (
                s.key.clone(),
                expected(&s.title, lang, source),
                s.facts
                    .iter()
                    .take(max_facts)
                    .map(|f| expected(f, lang, source))
                    .collect::<Vec<_>>(),
                s.narrative
                    .as_ref()
                    .filter(|_| narratives)
                    .map(|n| expected(n, lang, source)),
            )
        })
        .filter(|(_, _, facts, narrative)| !facts.is_empty() || narrative.is_some())
        .collect()
}

/// Renders every combination for one document and preset, checking the cross-format
/// invariants; returns the renders for further checks.
fn render_all(
    doc: &TwinDocument,
    preset: &Preset,
    include_narratives: Option<bool>,
) -> Vec<(RenderOptions, Rendered)> {
    let mut out = Vec::new();
    let langs = std::iter::once(None).chain(Lang::ALL.iter().copied().map(Some));
    for lang in langs {
        for &variant in Variant::ALL {
            for &format in Format::ALL {
                let opts = RenderOptions {
                    format,
                    lang,
                    variant,
                    include_narratives,
                };
                let rendered = render(doc, preset, &snapshot(), &opts);
                assert_eq!(rendered.lang, lang.unwrap_or(doc.source_lang));
                assert_eq!(rendered.content_type, format.content_type());
                out.push((opts, rendered));
            }
        }
    }
    out
}

/// ETags are a function of (content type, body): equal inputs give equal tags, different
/// bodies different tags.
fn check_etags(renders: &[(RenderOptions, Rendered)]) {
    let mut seen: HashMap<&str, (&str, &str)> = HashMap::new();
    for (_, r) in renders {
        assert_eq!(r.etag.len(), 34);
        if let Some(&(ct, body)) = seen.get(r.etag.as_str()) {
            assert_eq!(
                (ct, body),
                (r.content_type, r.body.as_str()),
                "etag collision"
            );
        }
        seen.insert(&r.etag, (r.content_type, &r.body));
    }
}

/// `json` and `yaml` bodies parse back to the same value, whose prompt is the `txt` body and
/// whose strings are the inputs, untouched.
fn check_structured(
    doc: &TwinDocument,
    preset: &Preset,
    include_narratives: Option<bool>,
    renders: &[(RenderOptions, Rendered)],
) {
    let find = |opts: RenderOptions| {
        &renders
            .iter()
            .find(|(o, _)| *o == opts)
            .expect("rendered")
            .1
    };
    for (opts, rendered) in renders {
        if opts.format != Format::Json {
            continue;
        }
        let from_json: PresetBody = serde_json::from_str(&rendered.body).unwrap();
        let yaml = find(RenderOptions {
            format: Format::Yaml,
            ..*opts
        });
        let from_yaml: PresetBody = yaml_serde::from_str(&yaml.body).unwrap();
        assert_eq!(from_json, from_yaml);
        let txt = find(RenderOptions {
            format: Format::Txt,
            ..*opts
        });
        assert_eq!(from_json.system_prompt, txt.body);
        assert_eq!(from_json.snapshot, snapshot());
        assert_eq!(from_json.preset, preset.slug());
        assert_eq!(from_json.variant, opts.variant);
        let lang = opts.lang.unwrap_or(doc.source_lang);
        assert_eq!(from_json.lang, lang);
        let narratives = include_narratives.unwrap_or(preset.include_narratives());
        let max_facts = preset.max_facts_per_section().unwrap_or(usize::MAX);
        let got: Vec<_> = from_json
            .sections
            .into_iter()
            .map(|s| (s.key, s.title, s.facts, s.narrative))
            .collect();
        assert_eq!(got, expected_sections(doc, lang, max_facts, narratives));
    }
}

/// Counts of the Markdown structure a body parses to.
#[derive(Debug, Default, PartialEq)]
struct MdShape {
    headings: usize,
    items: usize,
    max_list_depth: usize,
    strong: usize,
    /// Every construct the shapes never write (emphasis, links, code, quotes, tables…).
    unexpected: Vec<String>,
    html: Vec<String>,
}

fn md_shape(body: &str) -> MdShape {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_GFM;
    let mut shape = MdShape::default();
    let mut depth = 0usize;
    for event in Parser::new_ext(body, options) {
        match event {
            Event::Start(Tag::Heading { .. }) => shape.headings += 1,
            Event::Start(Tag::List(None)) => {
                depth += 1;
                shape.max_list_depth = shape.max_list_depth.max(depth);
            }
            Event::End(TagEnd::List(false)) => depth -= 1,
            Event::Start(Tag::Item) => shape.items += 1,
            Event::Start(Tag::Strong) => shape.strong += 1,
            Event::Html(html) | Event::InlineHtml(html) => shape.html.push(html.to_string()),
            Event::Start(Tag::Paragraph | Tag::HtmlBlock)
            | Event::End(_)
            | Event::Text(_)
            | Event::SoftBreak => {}
            other => shape.unexpected.push(format!("{other:?}")),
        }
    }
    shape
}

/// Our own tags in `claude` bodies; any other markup came from document text.
const CLAUDE_TAGS: &[&str] = &[
    "<user_profile name=",
    "</user_profile>",
    "<section name=",
    "</section>",
    "<facts>",
    "</facts>",
    "<narrative>",
    "</narrative>",
    "<instructions>",
    "</instructions>",
];

fn check_markdown(
    opts: &RenderOptions,
    body: &str,
    sections: &[(String, String, Vec<String>, Option<String>)],
) {
    let shape = md_shape(body);
    let facts: usize = sections.iter().map(|s| s.2.len()).sum();
    let with_facts = sections.iter().filter(|s| !s.2.is_empty()).count();
    let with_narrative = sections.iter().filter(|s| s.3.is_some()).count();
    let n = sections.len();
    let (headings, strong) = match opts.variant {
        Variant::Gpt => (2 + n + with_facts + with_narrative, 0),
        Variant::Generic => (1 + n, 0),
        Variant::Gemini => (2 + n, 2 + with_facts + with_narrative),
        Variant::Claude => (0, 0),
    };
    assert!(
        shape.unexpected.is_empty(),
        "{opts:?}: {:?}\n{body}",
        shape.unexpected
    );
    assert_eq!(shape.headings, headings, "{opts:?} headings\n{body}");
    assert_eq!(shape.strong, strong, "{opts:?} bold labels\n{body}");
    assert_eq!(shape.items, facts, "{opts:?} list items\n{body}");
    assert!(shape.max_list_depth <= 1, "{opts:?} nested list\n{body}");
    for html in &shape.html {
        assert_eq!(
            opts.variant,
            Variant::Claude,
            "{opts:?} html {html:?}\n{body}"
        );
        for line in html.lines().filter(|l| !l.is_empty()) {
            assert!(
                CLAUDE_TAGS.iter().any(|tag| line.starts_with(tag)),
                "{opts:?}: foreign html line {line:?}\n{body}"
            );
        }
    }
}

/// `claude` bodies: the profile and the instructions are well-formed XML holding only our
/// elements, and attribute values decode to the (cleaned) text.
fn check_claude_xml(body: &str, sections: &[(String, String, Vec<String>, Option<String>)]) {
    let start = body.find("<user_profile").expect("profile opens");
    let end = body.rfind("</user_profile>").expect("profile closes") + "</user_profile>".len();
    let xml =
        roxmltree::Document::parse(&body[start..end]).unwrap_or_else(|err| panic!("{err}\n{body}"));
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "user_profile");
    let found: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(found.len(), sections.len(), "{body}");
    for (node, (key, title, facts, narrative)) in found.iter().zip(sections) {
        assert_eq!(node.tag_name().name(), "section");
        assert_eq!(node.attribute("name"), Some(clean_attr(key).as_str()));
        assert_eq!(node.attribute("title"), Some(clean_attr(title).as_str()));
        let children: Vec<&str> = node
            .children()
            .filter(|n| n.is_element())
            .map(|n| n.tag_name().name())
            .collect();
        let mut wanted = Vec::new();
        if !facts.is_empty() {
            wanted.push("facts");
        }
        if narrative.is_some() {
            wanted.push("narrative");
        }
        assert_eq!(children, wanted, "{body}");
        for child in node.children().filter(|n| n.is_element()) {
            assert!(child.children().all(|n| n.is_text()), "{body}");
        }
    }
    let start = body.find("<instructions>").expect("instructions open");
    let end = body.rfind("</instructions>").expect("instructions close") + "</instructions>".len();
    let xml =
        roxmltree::Document::parse(&body[start..end]).unwrap_or_else(|err| panic!("{err}\n{body}"));
    assert!(xml.root_element().children().all(|n| n.is_text()));
}

/// A string as a `claude` attribute holds it: trimmed, line breaks and tabs folded into spaces,
/// other controls dropped.
fn clean_attr(text: &str) -> String {
    text.trim_matches(|c: char| c.is_whitespace() || c.is_control())
        .chars()
        .filter(|c| !c.is_control() || *c == '\t' || is_break(*c))
        .map(|c| if is_break(c) || c == '\t' { ' ' } else { c })
        .collect()
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Plain shapes: document text never starts a line of its own.
fn check_plain(opts: &RenderOptions, body: &str, sections: usize) {
    let lines: Vec<&str> = body.lines().collect();
    match opts.variant {
        Variant::Generic => {
            // Title, intro, instruction, and one numbered line per section.
            let top = lines
                .iter()
                .filter(|l| !l.is_empty() && !l.starts_with(' '))
                .count();
            assert_eq!(top, 3 + sections, "{opts:?}\n{body}");
        }
        Variant::Gemini => {
            // `[…]` block headers: profile, instructions, one per section.
            let headers = lines.iter().filter(|l| l.starts_with('[')).count();
            assert_eq!(headers, 2 + sections, "{opts:?}\n{body}");
        }
        Variant::Claude | Variant::Gpt => {}
    }
}

fn check_prompts(
    doc: &TwinDocument,
    preset: &Preset,
    include_narratives: Option<bool>,
    renders: &[(RenderOptions, Rendered)],
) {
    let narratives = include_narratives.unwrap_or(preset.include_narratives());
    let max_facts = preset.max_facts_per_section().unwrap_or(usize::MAX);
    for (opts, rendered) in renders {
        let body = rendered.body.as_str();
        let lang = opts.lang.unwrap_or(doc.source_lang);
        let sections = expected_sections(doc, lang, max_facts, narratives);
        assert!(body.ends_with('\n') || matches!(opts.format, Format::Json | Format::Yaml));
        match (opts.format, opts.variant) {
            (Format::Md, _) | (Format::Txt, Variant::Gpt) => check_markdown(opts, body, &sections),
            (Format::Txt, _) => check_plain(opts, body, sections.len()),
            _ => {}
        }
        if opts.variant == Variant::Claude && matches!(opts.format, Format::Txt | Format::Md) {
            check_claude_xml(body, &sections);
        }
        if matches!(opts.format, Format::Txt | Format::Md) {
            assert!(
                !body
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "control character in a prompt: {body:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn valid_documents_render_everywhere_and_stay_data(
        doc in valid_doc(),
        include_narratives in prop::option::of(any::<bool>()),
    ) {
        doc.validate().unwrap();
        // The document also survives the JSON path the server uses.
        let json = serde_json::to_vec(&doc).unwrap();
        prop_assert_eq!(&parse_document(&json).unwrap(), &doc);
        for preset in presets() {
            let renders = render_all(&doc, &preset, include_narratives);
            check_etags(&renders);
            check_structured(&doc, &preset, include_narratives, &renders);
            check_prompts(&doc, &preset, include_narratives, &renders);
            // Rendering is deterministic.
            let (opts, first) = &renders[renders.len() / 2];
            prop_assert_eq!(&render(&doc, &preset, &snapshot(), opts), first);
        }
    }

    #[test]
    fn any_document_renders_without_panicking(doc in any_doc()) {
        for preset in presets() {
            let renders = render_all(&doc, &preset, None);
            check_etags(&renders);
            for (opts, rendered) in &renders {
                match opts.format {
                    Format::Json => {
                        serde_json::from_str::<PresetBody>(&rendered.body).unwrap();
                    }
                    Format::Yaml => {
                        yaml_serde::from_str::<PresetBody>(&rendered.body).unwrap();
                    }
                    Format::Txt | Format::Md => {}
                }
            }
        }
    }

    #[test]
    fn parse_document_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_document(&bytes);
    }

    #[test]
    fn parse_document_never_panics_on_arbitrary_json(value in json_value()) {
        let _ = twin_render::validate_value(&value);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text(20).prop_map(Value::String),
        prop::sample::select(vec!["es", "en", "sections", "key", "facts", "title"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "schemaVersion",
                    "sourceLang",
                    "subject",
                    "displayName",
                    "sections",
                    "key",
                    "title",
                    "facts",
                    "narrative",
                    "es",
                    "en",
                    "xx",
                ])
                .prop_map(String::from),
                inner,
                0..6,
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}
