//! Making document text inert in each output syntax.
//!
//! Every string that reaches a prompt body goes through [`push_escaped`] (one line, line breaks
//! folded into spaces) or [`push_block`] (several lines under a prefix). The rules:
//!
//! - Line breaks are `\n`, `\r\n`, `\r`, NEL (U+0085), and U+2028/U+2029; all become `\n` (or a
//!   space where one line is expected), so no "line" can hide from the indentation rules below.
//! - Other control characters (Unicode category Cc, except `\t`) are dropped: they have no
//!   meaning in a prompt, XML 1.0 forbids most of them, and some terminals act on them.
//! - [`Mode::Xml`]: `&`, `<`, `>` become entities, so text cannot open or close a tag.
//!   [`Mode::XmlAttr`] also escapes `"` and writes tabs as spaces (as XML parsers would read
//!   them); [`Mode::XmlAttrMarkdown`] also writes Markdown's inline syntax characters as
//!   numeric references (`&#42;`), because some tag lines (`<user_profile …>`: CommonMark tag
//!   names have no `_`) are read as paragraph text by Markdown renderers.
//! - [`Mode::Markdown`]: CommonMark (and GFM) inline syntax characters get a backslash
//!   (`\` `` ` `` `*` `_` `[` `]` `<` `|` `~`); `&` gets one when it could start an entity;
//!   `#` gets one at a line start or after whitespace (ATX headings and closing sequences); at a
//!   line start, `>`, `-`, `+`, `=` and the `.`/`)` of an ordered-list number get one, and
//!   leading spaces and tabs are dropped (they would make an indented code block or change list
//!   nesting).
//! - [`Mode::XmlMarkdown`]: both at once; `&`, `<`, `>` use entities, which Markdown renders as
//!   the characters themselves.
//! - [`Mode::Plain`]: nothing is escaped; shapes keep plain text inert by indenting every line of
//!   document text under its bullet or label, so it can never start a line of its own.
//!
//! Nothing is ever interpreted: `{{x}}` is just six characters.

/// The syntax document text is embedded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain text: only line breaks and control characters are normalised.
    Plain,
    /// XML character data.
    Xml,
    /// A double-quoted XML attribute value.
    XmlAttr,
    /// A double-quoted XML attribute value in a Markdown body: as [`Mode::XmlAttr`], and
    /// Markdown's inline syntax characters as numeric character references, which XML and
    /// Markdown both decode to the character itself.
    XmlAttrMarkdown,
    /// CommonMark / GFM text.
    Markdown,
    /// Markdown text inside XML tags.
    XmlMarkdown,
}

impl Mode {
    fn is_markdown(self) -> bool {
        matches!(self, Mode::Markdown | Mode::XmlMarkdown)
    }
}

/// Where on its output line the next character lands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineState {
    /// Nothing visible has been written on this line yet (after its prefix).
    at_start: bool,
    /// The previous character written was whitespace.
    prev_ws: bool,
    /// Drop spaces and tabs while `at_start` (always done in Markdown, where indentation means
    /// something; elsewhere only for one-line text such as titles and template lines).
    trim_leading: bool,
}

impl LineState {
    /// The state at the start of a line of block text (or just after a prefix such as `- `).
    pub(crate) const fn start() -> Self {
        LineState {
            at_start: true,
            prev_ws: true,
            trim_leading: false,
        }
    }

    /// The state at the start of one-line text: leading whitespace is dropped in every mode.
    pub(crate) const fn inline_start() -> Self {
        LineState {
            at_start: true,
            prev_ws: true,
            trim_leading: true,
        }
    }

    /// The state in the middle of a line, after some non-space text.
    pub(crate) const fn mid() -> Self {
        LineState {
            at_start: false,
            prev_ws: false,
            trim_leading: false,
        }
    }
}

pub(crate) fn is_line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_dropped(c: char) -> bool {
    c.is_control() && c != '\t' && !is_line_break(c)
}

/// `text` without leading and trailing whitespace or control characters: what trimming means
/// once control characters are dropped.
pub(crate) fn clean_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || c.is_control())
}

/// Splits text at every kind of line break (`\r\n` counting as one).
pub(crate) struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lines { rest: Some(text) }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        match text.char_indices().find(|&(_, c)| is_line_break(c)) {
            Some((at, c)) => {
                let mut next = at + c.len_utf8();
                if c == '\r' && text[next..].starts_with('\n') {
                    next += 1;
                }
                self.rest = Some(&text[next..]);
                Some(&text[..at])
            }
            None => {
                self.rest = None;
                Some(text)
            }
        }
    }
}

/// Appends `text` escaped for `mode`, as part of one output line: line breaks become spaces.
///
/// Runs of characters that need no care are copied as slices; only the characters that matter
/// for `mode` (and everything while the line has not started) take the slow path.
pub(crate) fn push_escaped(out: &mut String, text: &str, mode: Mode, state: &mut LineState) {
    let markdown = mode.is_markdown();
    // `run..pos` is a pending slice of `text` to copy verbatim.
    let mut run = 0;
    let mut pos = 0;
    // Whether this call has written anything, so that `out`'s last char is the previous one.
    let mut wrote = false;
    while let Some(c) = text[pos..].chars().next() {
        let next = pos + c.len_utf8();
        if !state.at_start && !needs_care(c, mode) {
            pos = next;
            continue;
        }
        if run < pos {
            out.push_str(&text[run..pos]);
            wrote = true;
        }
        pos = next;
        run = next;
        if is_dropped(c) {
            continue;
        }
        let c = if is_line_break(c) { ' ' } else { c };
        if state.at_start && (markdown || state.trim_leading) && (c == ' ' || c == '\t') {
            continue;
        }
        let prev_ws = if wrote {
            out.ends_with(char::is_whitespace)
        } else {
            state.prev_ws
        };
        wrote = true;
        if markdown && state.at_start && c.is_ascii_digit() {
            // A number followed by `.` or `)` would start an ordered list.
            out.push(c);
            while let Some(d) = text[pos..].chars().next() {
                if d.is_ascii_digit() {
                    out.push(d);
                } else if is_dropped(d) {
                    // Dropped: skip it and keep looking for the marker.
                } else {
                    if d == '.' || d == ')' {
                        out.push('\\');
                        out.push(d);
                        pos += 1;
                    }
                    break;
                }
                pos += d.len_utf8();
            }
            run = pos;
            state.at_start = false;
            continue;
        }
        match mode {
            Mode::Plain => out.push(c),
            Mode::Xml | Mode::XmlAttr | Mode::XmlAttrMarkdown => {
                let attr = mode != Mode::Xml;
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' if attr => out.push_str("&quot;"),
                    // XML parsers normalise a literal tab in an attribute to a space anyway.
                    '\t' if attr => out.push(' '),
                    _ => match markdown_entity(c) {
                        Some(entity) if mode == Mode::XmlAttrMarkdown => out.push_str(entity),
                        _ => out.push(c),
                    },
                }
            }
            Mode::Markdown | Mode::XmlMarkdown => {
                let xml = mode == Mode::XmlMarkdown;
                match c {
                    '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                        out.push('\\');
                        out.push(c);
                    }
                    '&' if xml => out.push_str("&amp;"),
                    '<' if xml => out.push_str("&lt;"),
                    '>' if xml => out.push_str("&gt;"),
                    '<' => out.push_str("\\<"),
                    '>' if state.at_start => out.push_str("\\>"),
                    '&' if text[pos..]
                        .chars()
                        .find(|&n| !is_dropped(n))
                        .is_some_and(|n| n == '#' || n.is_ascii_alphanumeric()) =>
                    {
                        out.push_str("\\&");
                    }
                    '#' if prev_ws => out.push_str("\\#"),
                    '-' | '+' | '=' if state.at_start => {
                        out.push('\\');
                        out.push(c);
                    }
                    _ => out.push(c),
                }
            }
        }
        state.at_start = false;
    }
    if run < text.len() {
        out.push_str(&text[run..]);
        wrote = true;
    }
    if wrote {
        state.prev_ws = out.ends_with(char::is_whitespace);
    }
}

/// Whether `c` may need more than a verbatim copy in `mode` (once the line has started).
fn needs_care(c: char, mode: Mode) -> bool {
    if !c.is_ascii() {
        return c.is_control() || is_line_break(c);
    }
    if c.is_ascii_control() {
        return c != '\t' || matches!(mode, Mode::XmlAttr | Mode::XmlAttrMarkdown);
    }
    match mode {
        Mode::Plain => false,
        Mode::Xml => matches!(c, '&' | '<' | '>'),
        Mode::XmlAttr => matches!(c, '&' | '<' | '>' | '"'),
        Mode::XmlAttrMarkdown => matches!(
            c,
            '&' | '<' | '>' | '"' | '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~'
        ),
        Mode::Markdown | Mode::XmlMarkdown => matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '<' | '>' | '&' | '#'
        ),
    }
}

/// The numeric character reference of a Markdown inline syntax character.
fn markdown_entity(c: char) -> Option<&'static str> {
    Some(match c {
        '\\' => "&#92;",
        '`' => "&#96;",
        '*' => "&#42;",
        '_' => "&#95;",
        '[' => "&#91;",
        ']' => "&#93;",
        '|' => "&#124;",
        '~' => "&#126;",
        _ => return None,
    })
}

/// Appends a (possibly multi-line) text: the first line after `first_prefix`, every other line
/// after `cont_prefix`, each ending in `\n`. Outer whitespace (and control characters) is
/// trimmed, and so is the end of each line; blank lines keep only the prefix's non-space part.
pub(crate) fn push_block(
    out: &mut String,
    text: &str,
    mode: Mode,
    first_prefix: &str,
    cont_prefix: &str,
) {
    for (i, line) in Lines::new(clean_trim(text)).enumerate() {
        let prefix = if i == 0 { first_prefix } else { cont_prefix };
        let line = line.trim_end_matches(|c: char| c.is_whitespace() || c.is_control());
        if line.is_empty() {
            out.push_str(prefix.trim_end());
        } else {
            out.push_str(prefix);
            push_escaped(out, line, mode, &mut LineState::start());
        }
        out.push('\n');
    }
}

/// Appends an operator or UI template with every `{name}` replaced by `name`, both escaped for
/// `mode` on one line. The name is inserted as data: it is never scanned for placeholders.
pub(crate) fn push_template(
    out: &mut String,
    template: &str,
    name: &str,
    mode: Mode,
    state: &mut LineState,
) {
    const PLACEHOLDER: &str = "{name}";
    let mut rest = template;
    while let Some(at) = rest.find(PLACEHOLDER) {
        push_escaped(out, &rest[..at], mode, state);
        push_escaped(out, clean_trim(name), mode, state);
        rest = &rest[at + PLACEHOLDER.len()..];
    }
    push_escaped(out, rest, mode, state);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(text: &str, mode: Mode) -> String {
        let mut out = String::new();
        push_escaped(&mut out, text, mode, &mut LineState::start());
        out
    }

    #[test]
    fn lines_split_on_every_kind_of_break() {
        let lines: Vec<&str> = Lines::new("a\r\nb\rc\nd\u{2028}e\u{85}f").collect();
        assert_eq!(lines, ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(Lines::new("").collect::<Vec<_>>(), [""]);
        assert_eq!(Lines::new("x\n").collect::<Vec<_>>(), ["x", ""]);
    }

    #[test]
    fn control_characters_are_dropped_and_tabs_kept() {
        assert_eq!(
            esc("a\u{0}b\u{7}c\u{1b}[31md\u{7f}\u{9f}\te", Mode::Plain),
            "abc[31md\te"
        );
    }

    #[test]
    fn xml_escapes_markup() {
        assert_eq!(
            esc("</user_profile> & <section name=\"x\">", Mode::Xml),
            "&lt;/user_profile&gt; &amp; &lt;section name=\"x\"&gt;"
        );
        assert_eq!(esc("a\"b<\tc", Mode::XmlAttr), "a&quot;b&lt; c");
        assert_eq!(
            esc("`*_[]\\|~#", Mode::XmlAttrMarkdown),
            "&#96;&#42;&#95;&#91;&#93;&#92;&#124;&#126;#"
        );
        assert_eq!(esc("`*", Mode::XmlAttr), "`*");
        assert_eq!(esc("{{x}}", Mode::Xml), "{{x}}");
    }

    #[test]
    fn markdown_escapes_inline_syntax_and_line_starts() {
        assert_eq!(esc("# x", Mode::Markdown), "\\# x");
        assert_eq!(esc("C# and #tag", Mode::Markdown), "C# and \\#tag");
        assert_eq!(esc("- item", Mode::Markdown), "\\- item");
        assert_eq!(esc("a - b", Mode::Markdown), "a - b");
        assert_eq!(esc("    code", Mode::Markdown), "code");
        assert_eq!(esc("12. x", Mode::Markdown), "12\\. x");
        assert_eq!(esc("3) x", Mode::Markdown), "3\\) x");
        assert_eq!(esc("2024 was", Mode::Markdown), "2024 was");
        assert_eq!(esc("> quote", Mode::Markdown), "\\> quote");
        assert_eq!(esc("a > b", Mode::Markdown), "a > b");
        assert_eq!(
            esc("*a* _b_ `c` [d](e) <f> |g| ~h~ \\", Mode::Markdown),
            "\\*a\\* \\_b\\_ \\`c\\` \\[d\\](e) \\<f> \\|g\\| \\~h\\~ \\\\"
        );
        assert_eq!(esc("R&D &amp; & x", Mode::Markdown), "R\\&D \\&amp; & x");
        assert_eq!(esc("{{x}}", Mode::Markdown), "{{x}}");
    }

    #[test]
    fn xml_markdown_uses_entities_for_markup() {
        assert_eq!(
            esc("> <b> & *x*", Mode::XmlMarkdown),
            "&gt; &lt;b&gt; &amp; \\*x\\*"
        );
        assert_eq!(esc("- x", Mode::XmlMarkdown), "\\- x");
    }

    #[test]
    fn leading_whitespace_hidden_behind_controls_is_still_trimmed_in_markdown() {
        assert_eq!(esc("\u{1} \u{2}- x", Mode::Markdown), "\\- x");
    }

    #[test]
    fn blocks_put_every_line_behind_a_prefix() {
        let mut out = String::new();
        push_block(&mut out, "  one\r\n\n# two  \n", Mode::Markdown, "- ", "  ");
        assert_eq!(out, "- one\n\n  \\# two\n");
        let mut out = String::new();
        push_block(&mut out, "", Mode::Plain, "- ", "  ");
        assert_eq!(out, "-\n");
    }

    #[test]
    fn templates_insert_the_name_once_as_data() {
        let mut out = String::new();
        push_template(
            &mut out,
            "Hi {name}, {name}!",
            " {name} <b>\n",
            Mode::Xml,
            &mut LineState::start(),
        );
        assert_eq!(out, "Hi {name} &lt;b&gt;, {name} &lt;b&gt;!");
    }
}
