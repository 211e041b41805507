//! Rendering a twin through a preset into a body ready to serve.

mod escape;
mod shapes;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ui::{UiStrings, ui_strings};
use crate::{Format, Lang, Preset, TwinDocument, Variant};

/// How to render: the request's query parameters, already parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// The body's container (`format`); default `txt`.
    pub format: Format,
    /// The language to serve (`lang`); `None` serves the document's source language.
    pub lang: Option<Lang>,
    /// The prompt's shape (`variant`); default `generic`.
    pub variant: Variant,
    /// Whether to include narratives (`includeNarratives`); `None` uses the preset's default.
    pub include_narratives: Option<bool>,
}

/// The snapshot a rendering comes from, echoed in `json`/`yaml` bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SnapshotRef {
    /// The snapshot's id.
    pub id: String,
    /// The snapshot's version.
    pub version: i64,
    /// When the snapshot was created (ISO 8601, UTC).
    #[cfg_attr(feature = "utoipa", schema(format = DateTime))]
    pub created_at: String,
}

/// A rendered preset, ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The response body.
    pub body: String,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The served language, for `Content-Language`: the requested one, or the document's source
    /// language when none was requested. Individual strings without a translation were
    /// rendered in the source language.
    pub lang: Lang,
    /// A strong `ETag` (quoted): the first 128 bits of SHA-256 over the content type and body,
    /// in hex.
    pub etag: String,
}

/// The `json` and `yaml` body of a rendered preset, for clients that want to read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PresetBody {
    /// The prompt: exactly the `txt` rendering of the same variant.
    pub system_prompt: String,
    /// The preset's slug.
    pub preset: String,
    /// The snapshot rendered.
    pub snapshot: SnapshotRef,
    /// The served language.
    pub lang: Lang,
    /// The prompt's shape.
    pub variant: Variant,
    /// The sections the preset selected, with the served language's text (or the source
    /// language's where a translation is missing), verbatim: nothing escaped or stripped.
    pub sections: Vec<RenderedSection>,
}

/// One section of a [`PresetBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RenderedSection {
    /// The section's key.
    pub key: String,
    /// Its title.
    pub title: String,
    /// Its facts, after the preset's limit.
    pub facts: Vec<String>,
    /// Its narrative, when the document has one and narratives are included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
}

/// Renders `doc` through `preset` as `opts` asks. Never fails and never panics, whatever the
/// document's text contains.
///
/// Sections come in the preset's order; a section left with neither facts nor a narrative (after
/// the fact limit and `includeNarratives`) is omitted everywhere.
pub fn render(
    doc: &TwinDocument,
    preset: &Preset,
    snapshot: &SnapshotRef,
    opts: &RenderOptions,
) -> Rendered {
    let lang = opts.lang.unwrap_or(doc.source_lang);
    let include_narratives = opts
        .include_narratives
        .unwrap_or(preset.include_narratives());
    let view = View::new(doc, preset, lang, include_narratives);
    let body = match opts.format {
        Format::Txt => shapes::prompt(&view, opts.variant, false),
        Format::Md => shapes::prompt(&view, opts.variant, true),
        Format::Json | Format::Yaml => {
            let system_prompt = shapes::prompt(&view, opts.variant, false);
            let body = BodyRef {
                system_prompt: &system_prompt,
                preset: preset.slug(),
                snapshot,
                lang,
                variant: opts.variant,
                sections: &view.sections,
            };
            if opts.format == Format::Json {
                let mut buf = Vec::with_capacity(system_prompt.len() * 2 + view.text_len * 2 + 512);
                serde_json::to_writer_pretty(&mut buf, &body)
                    .expect("serializing strings and integers to JSON cannot fail");
                String::from_utf8(buf).expect("serde_json writes UTF-8")
            } else {
                yaml_serde::to_string(&body)
                    .expect("serializing strings and integers to YAML cannot fail")
            }
        }
    };
    let content_type = opts.format.content_type();
    let etag = etag(content_type, &body);
    Rendered {
        body,
        content_type,
        lang,
        etag,
    }
}

fn etag(content_type: &str, body: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(content_type.as_bytes());
    hasher.update([0]);
    hasher.update(body.as_bytes());
    let digest = hasher.finalize();
    let mut etag = String::with_capacity(34);
    etag.push('"');
    etag.push_str(&hex::encode(&digest[..16]));
    etag.push('"');
    etag
}

/// Borrowing twin of [`PresetBody`], so serialising copies no text.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyRef<'a> {
    system_prompt: &'a str,
    preset: &'a str,
    snapshot: &'a SnapshotRef,
    lang: Lang,
    variant: Variant,
    sections: &'a [SectionView<'a>],
}

/// What one rendering shows: the preset applied and every string resolved to one language.
pub(crate) struct View<'a> {
    pub(crate) ui: &'static UiStrings,
    pub(crate) lang: Lang,
    pub(crate) name: &'a str,
    pub(crate) intro: &'a str,
    pub(crate) sections: Vec<SectionView<'a>>,
    /// Bytes of document text shown, to pre-size output buffers.
    pub(crate) text_len: usize,
    pub(crate) fact_count: usize,
}

#[derive(Serialize)]
pub(crate) struct SectionView<'a> {
    pub(crate) key: &'a str,
    pub(crate) title: &'a str,
    pub(crate) facts: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) narrative: Option<&'a str>,
}

impl<'a> View<'a> {
    fn new(
        doc: &'a TwinDocument,
        preset: &'a Preset,
        lang: Lang,
        include_narratives: bool,
    ) -> Self {
        let source = doc.source_lang;
        let max_facts = preset.max_facts_per_section().unwrap_or(usize::MAX);
        let name = doc.subject.display_name.as_str();
        let intro = preset.intro(lang, source);
        let mut text_len = name.len() + intro.len();
        let mut fact_count = 0;
        let sections: Vec<SectionView<'a>> = preset
            .select(doc)
            .into_iter()
            .filter_map(|section| {
                let facts: Vec<&str> = section
                    .facts
                    .iter()
                    .take(max_facts)
                    .map(|fact| fact.resolve(lang, source))
                    .collect();
                let narrative = section
                    .narrative
                    .as_ref()
                    .filter(|_| include_narratives)
                    .map(|narrative| narrative.resolve(lang, source));
                if facts.is_empty() && narrative.is_none() {
                    return None;
                }
                let title = section.title.resolve(lang, source);
                text_len += section.key.len()
                    + title.len()
                    + facts.iter().map(|f| f.len()).sum::<usize>()
                    + narrative.map_or(0, str::len);
                fact_count += facts.len();
                Some(SectionView {
                    key: &section.key,
                    title,
                    facts,
                    narrative,
                })
            })
            .collect();
        View {
            ui: ui_strings(lang),
            lang,
            name,
            intro,
            sections,
            text_len,
            fact_count,
        }
    }

    /// A generous first guess at a prompt's size, so it is built without reallocating.
    fn prompt_capacity(&self) -> usize {
        // Escaping rarely adds more than a few percent; structure adds a little per item.
        self.text_len + self.text_len / 8 + self.sections.len() * 96 + self.fact_count * 8 + 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_is_strong_quoted_hex_and_depends_on_content_type() {
        let a = etag("text/plain; charset=utf-8", "body");
        assert_eq!(a.len(), 34);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert!(
            a[1..33]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a, etag("text/plain; charset=utf-8", "body"));
        assert_ne!(a, etag("text/markdown; charset=utf-8", "body"));
        assert_ne!(a, etag("text/plain; charset=utf-8", "body "));
    }
}
