//! XML text to a small element tree with the line and column of every element,
//! attribute and text, using quick-xml's pull parser.
//!
//! Malformed XML stops the file at the first error (nothing after it can be trusted)
//! with the exact position; the caller turns it into a diagnostic.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::span::{FileId, LineIndex, Span};

#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    pub value: String,
    /// Position of the attribute's name.
    pub span: Span,
    /// Position of the first character of the value.
    pub value_span: Span,
}

#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub span: Span,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// Concatenated character data (text, entities, CDATA).
    pub text: String,
    /// Position of the first non-blank character of the text (else the element).
    pub text_span: Span,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Trimmed text content.
    pub fn trimmed_text(&self) -> &str {
        self.text.trim()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
}

/// How deep elements may nest. Real configurations nest five or six levels; the
/// cap keeps hostile input from building a tree so deep that dropping it (which
/// recurses) overflows the stack.
pub const MAX_DEPTH: usize = 64;

/// Parses a whole document into its root elements (a well-formed file has one).
pub fn parse(file: FileId, text: &str) -> Result<Vec<Element>, XmlError> {
    let lines = LineIndex::new(text);
    let at = |offset: usize| {
        let (line, col) = lines.position(offset);
        Span::new(file, line, col)
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    // We check end names ourselves to say where the open tag was.
    reader.config_mut().check_end_names = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut roots = Vec::new();
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| XmlError {
            span: at(reader.error_position() as usize),
            message: format!("malformed XML: {e}"),
            hint: None,
        })?;
        match event {
            Event::Start(e) => {
                let el = element(&e, before, &at)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError {
                        span: el.span,
                        message: format!("elements nested deeper than {MAX_DEPTH} levels"),
                        hint: Some("a configuration nests a handful of levels: `<bergamot>`, `<host>`, `<service>`, `<check-command>`, `<parameter>`".into()),
                    });
                }
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element(&e, before, &at)?;
                attach(&mut stack, &mut roots, el);
            }
            Event::End(e) => {
                let name = e.name();
                let name = name.as_ref().to_string();
                // `</summary` followed by another tag: the `>` is missing (the
                // reader ran on to the next `>`).
                if let Some(cut) = name.find(|c: char| c == '<' || c.is_whitespace()) {
                    let tag = &name[..cut];
                    return Err(XmlError {
                        span: at(before),
                        message: format!("end tag `</{tag}` is missing its `>`"),
                        hint: Some(format!("write `</{tag}>`")),
                    });
                }
                match stack.pop() {
                    Some(open) if open.name == name => attach(&mut stack, &mut roots, open),
                    Some(open) => {
                        // `<time-range>x<time-range>` (the guide's own typo): the second
                        // tag was meant to close the first.
                        let hint = if stack.last().is_some_and(|outer| outer.name == open.name) {
                            format!(
                                "`<{0}>` at line {1}, column {2} opens a second `<{0}>` inside the first: write `</{0}>` there",
                                open.name, open.span.line, open.span.col
                            )
                        } else {
                            format!("close `<{}>` before `</{name}>`", open.name)
                        };
                        return Err(XmlError {
                            span: at(before),
                            message: format!(
                                "expected `</{}>` to close the element opened at line {}, column {}, found `</{name}>`",
                                open.name, open.span.line, open.span.col
                            ),
                            hint: Some(hint),
                        });
                    }
                    None => {
                        return Err(XmlError {
                            span: at(before),
                            message: format!("closing tag `</{name}>` has no matching opening tag"),
                            hint: None,
                        });
                    }
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content, before, &at);
            }
            Event::CData(t) => {
                let content = t.xml10_content();
                push_text(&mut stack, &content, before + "<![CDATA[".len(), &at);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten()
                } else {
                    match &*r.xml10_content() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => None,
                    }
                };
                let Some(c) = resolved else {
                    return Err(XmlError {
                        span: at(before),
                        message: format!("unknown entity `&{};`", r.xml10_content()),
                        hint: Some("write `&amp;` for a literal `&`".into()),
                    });
                };
                let mut buf = [0u8; 4];
                push_text(&mut stack, c.encode_utf8(&mut buf), before, &at);
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.pop() {
        return Err(XmlError {
            span: open.span,
            message: format!("element `<{}>` is never closed", open.name),
            hint: Some(format!("add `</{}>` or write `<{} … />`", open.name, open.name)),
        });
    }
    Ok(roots)
}

fn attach(stack: &mut [Element], roots: &mut Vec<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => roots.push(el),
    }
}

fn push_text(stack: &mut [Element], content: &str, offset: usize, at: &impl Fn(usize) -> Span) {
    let Some(el) = stack.last_mut() else { return };
    // Leading blanks are never part of a value (values are trimmed), so text starts
    // at the first non-blank character. This also keeps the indentation between
    // child elements out of container elements: appending it and re-checking the
    // whole text each time was quadratic in the number of children.
    if el.text.is_empty() {
        if let Some(lead) = content.find(|c: char| !c.is_whitespace()) {
            el.text_span = at(offset + lead);
            el.text.push_str(&content[lead..]);
        }
    } else {
        el.text.push_str(content);
    }
}

fn element(
    e: &BytesStart<'_>,
    offset: usize,
    at: &impl Fn(usize) -> Span,
) -> Result<Element, XmlError> {
    let name = e.name().as_ref().to_string();
    let span = at(offset);
    // The raw tag text starts after `<`; attribute spans are found in it.
    let raw: &str = e;
    let raw_offset = offset + 1;
    let mut attrs: Vec<Attr> = Vec::new();
    let mut search_from = name.len();
    for a in e.attributes().with_checks(true) {
        let a = a.map_err(|err| {
            // quick-xml gives the position in the tag (after `<`) and says it again
            // in its message; ours is in the diagnostic's span.
            use quick_xml::events::attributes::AttrError as E;
            let pos = match err {
                E::ExpectedEq(p) | E::ExpectedValue(p) | E::UnquotedValue(p) | E::ExpectedQuote(p, _) | E::Duplicated(p, _) => p,
            };
            let text = err.to_string();
            let what = text.split_once(": ").map_or(text.as_str(), |(_, w)| w);
            XmlError { span: at(raw_offset + pos.min(raw.len())), message: format!("malformed attribute in `<{name}>`: {what}"), hint: None }
        })?;
        let key = a.key.as_ref().to_string();
        let (key_at, value_at) = find_attr(raw, &key, search_from);
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| XmlError {
                span: at(raw_offset + value_at),
                message: format!("bad value of attribute `{key}` in `<{name}>`: {err}"),
                hint: Some("write `&amp;` for a literal `&`".into()),
            })?
            .into_owned();
        // Search on after this value: it may contain text like ` other="`.
        search_from = (value_at + a.value.len()).min(raw.len());
        attrs.push(Attr {
            name: key,
            value,
            span: at(raw_offset + key_at),
            value_span: at(raw_offset + value_at),
        });
    }
    Ok(Element { name, span, attrs, children: Vec::new(), text: String::new(), text_span: span })
}

/// Finds `key = "` in a raw tag from `from`; returns the key's and the value's offsets.
fn find_attr(raw: &str, key: &str, from: usize) -> (usize, usize) {
    let bytes = raw.as_bytes();
    let mut i = from.min(raw.len());
    while let Some(rel) = raw.get(i..).and_then(|s| s.find(key)) {
        let k = i + rel;
        let before_ok = k == 0 || bytes[k - 1].is_ascii_whitespace();
        let mut j = k + key.len();
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if before_ok && j < bytes.len() && bytes[j] == b'=' {
            j += 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            // Skip the opening quote.
            let value_at = if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') { j + 1 } else { j };
            return (k, value_at);
        }
        i = k + key.len().max(1);
    }
    (from.min(raw.len()), from.min(raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> FileId {
        FileId(0)
    }

    #[test]
    fn elements_attributes_and_text_have_positions() {
        let xml = "<a x=\"1\">\n  <b  y = 'two' z=\"&amp;\">hi &lt; there</b>\n  <c/>\n</a>";
        let roots = parse(f(), xml).unwrap();
        assert_eq!(roots.len(), 1);
        let a = &roots[0];
        assert_eq!((a.span.line, a.span.col), (1, 1));
        assert_eq!((a.attrs[0].value_span.line, a.attrs[0].value_span.col), (1, 7));
        let b = &a.children[0];
        assert_eq!(b.name, "b");
        assert_eq!((b.span.line, b.span.col), (2, 3));
        assert_eq!(b.attrs[0].value, "two");
        assert_eq!((b.attrs[0].span.line, b.attrs[0].span.col), (2, 7));
        assert_eq!(b.attrs[1].value, "&");
        assert_eq!(b.text, "hi < there");
        assert_eq!((b.text_span.line, b.text_span.col), (2, 27));
        assert_eq!(a.children[1].name, "c");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("<a><b></a>", (1, 7), "expected `</b>`"),
            ("<a>\n<time-range>x<time-range>\n</a>", (3, 1), "expected `</time-range>` to close the element opened at line 2, column 14"),
            ("<a>\n<b>", (2, 1), "never closed"),
            ("<a><summary>x</summary\n</a>", (1, 14), "end tag `</summary` is missing its `>`"),
            ("<a x=\"a&b\"/>", (1, 7), "bad value of attribute `x`"),
            ("<a x=\"1\" x=\"2\"/>", (1, 10), "malformed attribute in `<a>`: duplicated attribute"),
            ("<a\n  x=1/>", (2, 5), "malformed attribute in `<a>`: attribute value must be enclosed"),
            ("<a>&nope;</a>", (1, 4), "unknown entity"),
            ("</a>", (1, 1), "does not match any open tag"),
            ("<a><summary>x</summary</a>", (1, 14), "end tag `</summary` is missing its `>`"),
            ("<a>&b</a>", (1, 4), "malformed XML"),
            (&format!("<a>{}", "\n<b>".repeat(100)), (65, 1), "elements nested deeper than 64 levels"),
        ];
        for (xml, (line, col), msg) in cases {
            let err = parse(f(), xml).unwrap_err();
            assert!(err.message.contains(msg), "{xml}: {}", err.message);
            assert_eq!((err.span.line, err.span.col), (line, col), "{xml}: {}", err.message);
        }
    }
}
