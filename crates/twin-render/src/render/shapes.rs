//! The prompt shapes: one writer per variant, each with a plain (`txt`) and a Markdown (`md`)
//! form. The crate documentation shows and explains each shape.

use std::fmt::Write as _;

use super::View;
use super::escape::{LineState, Mode, clean_trim, push_block, push_escaped, push_template};
use crate::Variant;
use crate::ui::upper_labels;

/// The prompt for `variant`: its plain form, or its Markdown form when `markdown` is set.
pub(crate) fn prompt(view: &View<'_>, variant: Variant, markdown: bool) -> String {
    let mut out = String::with_capacity(view.prompt_capacity());
    match variant {
        Variant::Claude => claude(&mut out, view, markdown),
        // GPT's recommended shape is Markdown already, so both forms are the same text.
        Variant::Gpt => gpt(&mut out, view),
        Variant::Gemini if markdown => gemini_md(&mut out, view),
        Variant::Gemini => gemini_txt(&mut out, view),
        Variant::Generic if markdown => generic_md(&mut out, view),
        Variant::Generic => generic_txt(&mut out, view),
    }
    // Exactly one trailing newline, whatever the last block left.
    out.truncate(out.trim_end_matches('\n').len());
    out.push('\n');
    out
}

/// Writes a whole line: `template` with `{name}` filled in, then `\n`.
fn template_line(out: &mut String, template: &str, view: &View<'_>, mode: Mode) {
    push_template(
        out,
        template,
        view.name,
        mode,
        &mut LineState::inline_start(),
    );
    out.push('\n');
}

/// Writes `text` on the current line (after a prefix the caller wrote), folding line breaks.
fn inline(out: &mut String, text: &str, mode: Mode) {
    push_escaped(out, clean_trim(text), mode, &mut LineState::inline_start());
}

/// Writes `text` in the middle of a line, after a label.
fn inline_mid(out: &mut String, text: &str, mode: Mode) {
    push_escaped(out, clean_trim(text), mode, &mut LineState::mid());
}

/// `claude`: XML tags around the profile, as Anthropic's guides recommend for structuring
/// context; long context first and the instructions last. The Markdown form keeps the tags and
/// writes their content as Markdown, with blank lines so renderers parse it.
fn claude(out: &mut String, view: &View<'_>, markdown: bool) {
    // In Markdown, `<user_profile …>` is not an HTML tag (CommonMark tag names have no `_`), so
    // its line is paragraph text and the name needs Markdown-inert escaping too; the `<section>`
    // lines always fall inside HTML blocks, which Markdown leaves alone.
    let (text, name_attr) = if markdown {
        (Mode::XmlMarkdown, Mode::XmlAttrMarkdown)
    } else {
        (Mode::Xml, Mode::XmlAttr)
    };
    let gap = if markdown { "\n" } else { "" };
    template_line(out, view.intro, view, text);
    out.push_str("\n<user_profile name=\"");
    inline(out, view.name, name_attr);
    out.push_str("\">\n");
    for section in &view.sections {
        out.push_str("<section name=\"");
        inline(out, section.key, Mode::XmlAttr);
        out.push_str("\" title=\"");
        inline(out, section.title, Mode::XmlAttr);
        out.push_str("\">\n");
        if !section.facts.is_empty() {
            out.push_str("<facts>\n");
            out.push_str(gap);
            for fact in &section.facts {
                push_block(out, fact, text, "- ", "  ");
            }
            out.push_str(gap);
            out.push_str("</facts>\n");
        }
        if let Some(narrative) = section.narrative {
            out.push_str("<narrative>\n");
            out.push_str(gap);
            push_block(out, narrative, text, "", "");
            out.push_str(gap);
            out.push_str("</narrative>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</user_profile>\n\n<instructions>\n");
    out.push_str(gap);
    template_line(out, view.ui.instruction, view, text);
    out.push_str(gap);
    out.push_str("</instructions>\n");
}

/// `gpt`: Markdown headings and bullet lists, instructions first, as OpenAI's prompting guides
/// lay out system prompts (`# Instructions`, then `# Context`-like sections).
fn gpt(out: &mut String, view: &View<'_>) {
    let md = Mode::Markdown;
    let ui = view.ui;
    out.push_str("# ");
    inline(out, ui.instructions, md);
    out.push_str("\n\n");
    template_line(out, view.intro, view, md);
    out.push('\n');
    template_line(out, ui.instruction, view, md);
    out.push_str("\n# ");
    inline(out, ui.user_profile, md);
    out.push_str(ui.colon);
    out.push(' ');
    inline_mid(out, view.name, md);
    out.push('\n');
    for section in &view.sections {
        out.push_str("\n## ");
        inline(out, section.title, md);
        out.push('\n');
        if !section.facts.is_empty() {
            out.push_str("\n### ");
            inline(out, ui.key_facts, md);
            out.push_str("\n\n");
            for fact in &section.facts {
                push_block(out, fact, md, "- ", "  ");
            }
        }
        if let Some(narrative) = section.narrative {
            out.push_str("\n### ");
            inline(out, ui.narrative, md);
            out.push_str("\n\n");
            push_block(out, narrative, md, "", "");
        }
    }
}

/// `gemini`, plain form: labelled blocks (`[SECTION: …]`, `Name:`, `Context:`, `Key facts:`),
/// context first and the
/// instructions in a final block, following Google's advice to label each part of a prompt
/// consistently and to put the request after long context. Every line of document text is
/// indented or bulleted, so none can pose as a label.
fn gemini_txt(out: &mut String, view: &View<'_>) {
    let plain = Mode::Plain;
    let ui = view.ui;
    let upper = upper_labels(view.lang);
    out.push('[');
    out.push_str(&upper.user_profile);
    out.push_str("]\n");
    out.push_str(ui.name);
    out.push_str(ui.colon);
    out.push(' ');
    inline_mid(out, view.name, plain);
    out.push('\n');
    // Behind a label, so an intro that starts with `{name}` cannot put a name such as
    // `[SECTION: …]` at the start of a line.
    out.push_str(ui.context);
    out.push_str(ui.colon);
    out.push(' ');
    push_template(out, view.intro, view.name, plain, &mut LineState::mid());
    out.push('\n');
    for section in &view.sections {
        out.push_str("\n[");
        out.push_str(&upper.section);
        out.push_str(ui.colon);
        out.push(' ');
        inline_mid(out, section.title, plain);
        out.push_str("]\n");
        if !section.facts.is_empty() {
            out.push_str(ui.key_facts);
            out.push_str(ui.colon);
            out.push('\n');
            for fact in &section.facts {
                push_block(out, fact, plain, "- ", "  ");
            }
        }
        if let Some(narrative) = section.narrative {
            out.push_str(ui.narrative);
            out.push_str(ui.colon);
            out.push('\n');
            push_block(out, narrative, plain, "  ", "  ");
        }
    }
    out.push_str("\n[");
    out.push_str(&upper.instructions);
    out.push_str("]\n");
    template_line(out, ui.instruction, view, plain);
}

/// `gemini`, Markdown form: the same labelled blocks as headings and bold labels.
fn gemini_md(out: &mut String, view: &View<'_>) {
    let md = Mode::Markdown;
    let ui = view.ui;
    let upper = upper_labels(view.lang);
    out.push_str("## ");
    inline(out, &upper.user_profile, md);
    out.push_str("\n\n**");
    inline(out, ui.name, md);
    out.push_str(ui.colon);
    out.push_str("** ");
    inline_mid(out, view.name, md);
    out.push_str("\n\n**");
    inline(out, ui.context, md);
    out.push_str(ui.colon);
    out.push_str("** ");
    push_template(out, view.intro, view.name, md, &mut LineState::mid());
    out.push('\n');
    for section in &view.sections {
        out.push_str("\n### ");
        inline(out, &upper.section, md);
        out.push_str(ui.colon);
        out.push(' ');
        inline_mid(out, section.title, md);
        out.push('\n');
        if !section.facts.is_empty() {
            out.push_str("\n**");
            inline(out, ui.key_facts, md);
            out.push_str(ui.colon);
            out.push_str("**\n\n");
            for fact in &section.facts {
                push_block(out, fact, md, "- ", "  ");
            }
        }
        if let Some(narrative) = section.narrative {
            out.push_str("\n**");
            inline(out, ui.narrative, md);
            out.push_str(ui.colon);
            out.push_str("**\n\n");
            push_block(out, narrative, md, "", "");
        }
    }
    out.push_str("\n## ");
    inline(out, &upper.instructions, md);
    out.push_str("\n\n");
    template_line(out, ui.instruction, view, md);
}

/// `generic`, plain form: readable text with numbered sections; instructions up front. Document
/// text is indented under its section, so it can never start a line of its own.
fn generic_txt(out: &mut String, view: &View<'_>) {
    let plain = Mode::Plain;
    let ui = view.ui;
    out.push_str(ui.user_profile);
    out.push_str(ui.colon);
    out.push(' ');
    inline_mid(out, view.name, plain);
    out.push_str("\n\n");
    template_line(out, view.intro, view, plain);
    template_line(out, ui.instruction, view, plain);
    for (i, section) in view.sections.iter().enumerate() {
        // Writing to a String cannot fail.
        let _ = write!(out, "\n{}. ", i + 1);
        inline_mid(out, section.title, plain);
        out.push('\n');
        for fact in &section.facts {
            push_block(out, fact, plain, "   - ", "     ");
        }
        if let Some(narrative) = section.narrative {
            if !section.facts.is_empty() {
                out.push('\n');
            }
            push_block(out, narrative, plain, "   ", "   ");
        }
    }
}

/// `generic`, Markdown form: a title, the intro and instructions, then one `##` heading per
/// section with its bullets and narrative.
fn generic_md(out: &mut String, view: &View<'_>) {
    let md = Mode::Markdown;
    let ui = view.ui;
    out.push_str("# ");
    push_template(out, ui.about, view.name, md, &mut LineState::inline_start());
    out.push_str("\n\n");
    template_line(out, view.intro, view, md);
    out.push('\n');
    template_line(out, ui.instruction, view, md);
    for section in &view.sections {
        out.push_str("\n## ");
        inline(out, section.title, md);
        out.push_str("\n\n");
        for fact in &section.facts {
            push_block(out, fact, md, "- ", "  ");
        }
        if let Some(narrative) = section.narrative {
            if !section.facts.is_empty() {
                out.push('\n');
            }
            push_block(out, narrative, md, "", "");
        }
    }
}
