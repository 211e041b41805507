//! # twin-render
//!
//! The pure core of the Twin API's public `GET /v1/public/twin/preset/{slug}` endpoint: the twin
//! document (PCP) model and its validation, presets, UI strings in six languages, and rendering
//! a twin into a ready-to-inject system prompt (`txt`, `md`) or a structured body (`json`,
//! `yaml`).
//!
//! **Architecture invariant:** this crate does no I/O beyond parsing the strings and bytes it is
//! handed, has no async, and knows nothing of storage, HTTP or configuration files' locations.
//! It must not depend on diesel, actix-web, tokio or any other twin crate; the storage and HTTP
//! crates depend on it, never the reverse. Its errors are domain errors; mapping them to
//! `400 INVALID_PARAMETER` (with [`DocumentError::path`] or [`InvalidValue::allowed`]) is the
//! HTTP crate's job.
//!
//! ```
//! use twin_render::{PresetCatalog, RenderOptions, SnapshotRef, Variant, Format, Lang};
//!
//! let doc = twin_render::sample_twin();
//! let catalog = PresetCatalog::builtin();
//! let preset = catalog.get("estandar").unwrap();
//! let snapshot = SnapshotRef { id: "snap_1".into(), version: 1, created_at: "2026-05-10T12:00:00Z".into() };
//! let opts = RenderOptions {
//!     format: "md".parse::<Format>()?,
//!     lang: Some("en".parse::<Lang>()?),
//!     variant: Variant::Claude,
//!     include_narratives: None,
//! };
//! let rendered = twin_render::render(doc, preset, &snapshot, &opts);
//! assert_eq!(rendered.content_type, "text/markdown; charset=utf-8");
//! assert_eq!(rendered.lang, Lang::En);
//! assert!(rendered.body.contains("<user_profile name=\"Lucía Navarro Pardo\">"));
//! # Ok::<(), twin_render::InvalidValue>(())
//! ```
//!
//! ## Documents
//!
//! [`TwinDocument`] mirrors the published JSON Schema ([`PCP_SCHEMA_JSON`], the file
//! `schema/pcp.schema.json`, draft 2020-12). [`parse_document`] checks size (≤ 256 KiB), JSON
//! syntax, the schema (compiled once), then what the schema cannot say (a non-blank `sourceLang`
//! entry in every localized map, unique section keys). Errors carry the JSON Pointer of the
//! first problem, e.g. `/sections/2/facts/0/es`. [`sample_twin`] is a realistic fictional twin
//! with every string in all six languages.
//!
//! ## Presets
//!
//! Presets are data: [`BUILTIN_PRESETS_YAML`] (`data/presets.yaml`) defines `estandar`, `breve`
//! and `completo`; an operator's file, loaded with [`PresetCatalog::from_yaml`], replaces them.
//! A preset chooses the sections (a list of keys in rendering order, or `all`), whether
//! narratives are on by default, a fact limit per section, and a localized intro line.
//!
//! ## Languages
//!
//! The served language is the requested `lang`, or the document's `sourceLang` when none is
//! requested; [`Rendered::lang`] is that language and is what `Content-Language` should say.
//! The prompt's own strings (headings, labels, the instruction sentence — see [`ui_strings`])
//! exist in all six languages and always follow the served language. Each document string
//! without a (non-blank) translation falls back to the source-language text individually, so a
//! partly translated twin renders complete, with some strings in the source language. A preset
//! intro missing the served language falls back to the source language, then English.
//!
//! ## Formats and variants
//!
//! The **variant** decides the prompt's shape; the **format** decides the container:
//!
//! | format | body | document text |
//! |---|---|---|
//! | `txt` | the variant's prompt in its native form | escaped for the variant's own syntax |
//! | `md` | the variant's prompt in its Markdown form (valid CommonMark) | escaped for Markdown too |
//! | `json`, `yaml` | `{systemPrompt, preset, snapshot, lang, variant, sections}` | verbatim in `sections`; `systemPrompt` is exactly the `txt` body |
//!
//! The shapes, each following its model family's published prompting advice:
//!
//! - **`claude`** — Anthropic recommends XML tags to separate context from instructions, and
//!   long context before the request. The intro line, then
//!   `<user_profile name="…">` holding one `<section name="key" title="…">` per section with
//!   `<facts>` (a `- ` list) and `<narrative>`, then `<instructions>` last. Tag names stay
//!   English (they are structure); their content is localized. In `md` the tags stay and their
//!   content is Markdown, separated by blank lines so renderers parse it.
//! - **`gpt`** — OpenAI's guides lay system prompts out in Markdown: `# Instructions` first
//!   (intro and instruction), then `# User profile: name`, a `##` heading per section and `###`
//!   headings for key facts and narrative. Its native form is Markdown, so `txt` and `md` are
//!   the same text (served with different content types, hence different ETags).
//! - **`gemini`** — Google advises labelling each part of a prompt consistently and putting the
//!   request after long context: `[USER PROFILE]` with `Name:` and `Context:` (the intro), a
//!   `[SECTION: title]` block per section with `Key facts:` and `Narrative:` labels, and a final
//!   `[INSTRUCTIONS]` block. In `md`, the blocks become headings and bold labels.
//! - **`generic`** — plain readable text for any model or person: `User profile: name`, the
//!   intro and instruction, then numbered sections with indented bullets and narrative. In `md`,
//!   a `# About name` title and a `##` heading per section.
//!
//! Sections appear in the preset's order; a section left empty by the fact limit and
//! `includeNarratives=false` is omitted.
//!
//! ## Text is data
//!
//! Document text is never interpreted: there is no template engine (`{{x}}` stays `{{x}}`;
//! only the intro and UI strings' own `{name}` is substituted, once, with the name inserted as
//! data). In prompt bodies:
//!
//! - `claude` escapes `&`, `<`, `>` (and `"` in attributes), so a fact reading
//!   `</user_profile>` cannot close a tag.
//! - Markdown bodies backslash-escape inline syntax (`` \ ` * _ [ ] < | ~ ``), `&` before an
//!   entity-like sequence, `#` at a line start or after a space, and at a line start `>`, `-`,
//!   `+`, `=` and ordered-list numbers; leading indentation is dropped (it would make a code
//!   block). A fact reading `# x` renders as the text `# x`, not a heading.
//! - Plain shapes (`generic`, `gemini` `txt`) keep every line of document text behind its bullet
//!   or an indent, so no text can start a line of its own and pose as a heading or label.
//! - Everywhere in prompts, line breaks (`\r\n`, `\r`, NEL, U+2028, U+2029) become `\n` (titles
//!   and the name are folded onto one line), and other control characters (Unicode Cc except
//!   `\t`) are dropped. Leading and trailing whitespace of each string is trimmed.
//!
//! The `sections` of `json` and `yaml` bodies carry the strings exactly as stored (control
//! characters included), serialised by serde (`serde_json`, `yaml_serde`), so they parse back to
//! the same strings. YAML bodies are YAML 1.2 (RFC 9512): a string like `no` is emitted plain,
//! which is a string in YAML 1.2 but a boolean to YAML 1.1 loaders (e.g. PyYAML's default);
//! integrators on such loaders should ask for `json`.
//!
//! ## Caching
//!
//! [`Rendered::etag`] is a strong ETag over the content type and body, so equal bodies in
//! different formats (`gpt` `txt` and `md`) still get different tags. Rendering allocates its
//! output once, pre-sized, and uses no regular expressions.

mod document;
mod options;
mod preset;
mod render;
mod sample;
mod ui;
mod validate;

pub use document::{
    Localized, MAX_DOCUMENT_BYTES, MAX_FACTS_PER_SECTION, MAX_KEY_LEN, MAX_SECTIONS,
    MAX_STRING_CHARS, SCHEMA_VERSION, Section, Subject, TwinDocument, is_valid_key,
};
pub use options::{Format, InvalidValue, Lang, Variant};
pub use preset::{BUILTIN_PRESETS_YAML, Preset, PresetCatalog, PresetError, SectionSelection};
pub use render::{PresetBody, RenderOptions, Rendered, RenderedSection, SnapshotRef, render};
pub use sample::{SAMPLE_TWIN_JSON, sample_twin};
pub use ui::{UiStrings, ui_strings};
pub use validate::{DocumentError, PCP_SCHEMA_JSON, parse_document, validate_value};
