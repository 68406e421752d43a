//! Splits a condition text into tokens with byte offsets; knows nothing of the grammar.
//!
//! Tokenising never fails: the first character that starts no token ends the list with
//! a [`Tok::Bad`] token, so a grammar error *before* it is still reported first.

use super::error::ErrorKind;

/// Punctuation and operator symbols, longest match first (`!=` is not `!` then `=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sym {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Caret,
    OrOr,
    Or,
    AndAnd,
    And,
    Bang,
    EqEq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// A keyword or other bare word, lower-cased (keywords are case-insensitive).
    Word(String),
    /// A `'quoted'` name with `''` turned back into `'`.
    Name(String),
    Number(u32),
    Sym(Sym),
    /// End of input: always the last token unless a [`Tok::Bad`] is.
    Eof,
    /// Text that starts no token; always the last token.
    Bad(ErrorKind),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
}

/// Every token of `src`, ending with exactly one `Eof` or `Bad`.
pub(super) fn tokenize(src: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let mut pos = 0;
    loop {
        // Skip whitespace (any Unicode whitespace: conditions are copied out of XML).
        while let Some(c) = src[pos..].chars().next() {
            if !c.is_whitespace() {
                break;
            }
            pos += c.len_utf8();
        }
        let start = pos;
        let Some(c) = src[pos..].chars().next() else {
            out.push(Token { tok: Tok::Eof, start, end: start });
            return out;
        };
        let next = bytes.get(pos + 1).copied();
        let sym2 = |s| Some((s, 2));
        let sym1 = |s| Some((s, 1));
        let sym = match (c, next) {
            ('(', _) => sym1(Sym::LParen),
            (')', _) => sym1(Sym::RParen),
            ('[', _) => sym1(Sym::LBracket),
            (']', _) => sym1(Sym::RBracket),
            (',', _) => sym1(Sym::Comma),
            ('^', _) => sym1(Sym::Caret),
            ('|', Some(b'|')) => sym2(Sym::OrOr),
            ('|', _) => sym1(Sym::Or),
            ('&', Some(b'&')) => sym2(Sym::AndAnd),
            ('&', _) => sym1(Sym::And),
            ('!', Some(b'=')) => sym2(Sym::Ne),
            ('!', _) => sym1(Sym::Bang),
            ('=', Some(b'=')) => sym2(Sym::EqEq),
            ('<', Some(b'=')) => sym2(Sym::Le),
            ('<', _) => sym1(Sym::Lt),
            ('>', Some(b'=')) => sym2(Sym::Ge),
            ('>', _) => sym1(Sym::Gt),
            _ => None,
        };
        let (tok, end) = if let Some((s, len)) = sym {
            (Tok::Sym(s), start + len)
        } else if c == '\'' {
            match name(src, start) {
                Ok((n, end)) => (Tok::Name(n), end),
                Err(kind) => (Tok::Bad(kind), src.len()),
            }
        } else if c.is_ascii_digit() {
            let end = run_end(bytes, start, |b| b.is_ascii_digit());
            let digits = &src[start..end];
            match digits.parse::<u32>() {
                Ok(n) => (Tok::Number(n), end),
                Err(_) => (Tok::Bad(ErrorKind::NumberTooLarge(shorten(digits))), end),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = run_end(bytes, start, |b| b.is_ascii_alphanumeric() || b == b'_');
            (Tok::Word(src[start..end].to_ascii_lowercase()), end)
        } else {
            (Tok::Bad(ErrorKind::UnexpectedChar(c)), start + c.len_utf8())
        };
        let bad = matches!(tok, Tok::Bad(_));
        out.push(Token { tok, start, end });
        if bad {
            return out;
        }
        pos = end;
    }
}

/// The end of the run of bytes matching `f` from `start`. Only used with ASCII
/// predicates, so the end is always a character boundary.
fn run_end(bytes: &[u8], start: usize, f: impl Fn(u8) -> bool) -> usize {
    let len = bytes[start..].iter().take_while(|&&b| f(b)).count();
    start + len
}

/// Reads the quoted name starting at the `'` at `start`; `''` inside stands for `'`.
/// Returns the name and the offset just past the closing quote.
fn name(src: &str, start: usize) -> Result<(String, usize), ErrorKind> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|&(_, n)| n) == Some('\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Ok((out, start + 1 + i + 1));
        }
        out.push(c);
    }
    Err(ErrorKind::UnterminatedName)
}

/// At most 40 characters of `s`, for messages about hostile input.
pub(super) fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<(Tok, usize, usize)> {
        tokenize(src).into_iter().map(|t| (t.tok, t.start, t.end)).collect()
    }

    fn w(s: &str) -> Tok {
        Tok::Word(s.to_string())
    }

    fn n(s: &str) -> Tok {
        Tok::Name(s.to_string())
    }

    #[test]
    fn token_table() {
        use Sym::*;
        let cases: Vec<(&str, Vec<(Tok, usize, usize)>)> = vec![
            ("", vec![(Tok::Eof, 0, 0)]),
            ("  \t\n", vec![(Tok::Eof, 4, 4)]),
            ("HoSt 'a'", vec![(w("host"), 0, 4), (n("a"), 5, 8), (Tok::Eof, 8, 8)]),
            ("'it''s'", vec![(n("it's"), 0, 7), (Tok::Eof, 7, 7)]),
            ("''''", vec![(n("'"), 0, 4), (Tok::Eof, 4, 4)]),
            ("'a'''", vec![(n("a'"), 0, 5), (Tok::Eof, 5, 5)]),
            ("'' ''", vec![(n(""), 0, 2), (n(""), 3, 5), (Tok::Eof, 5, 5)]),
            ("'ü b\\'", vec![(n("ü b\\"), 0, 7), (Tok::Eof, 7, 7)]),
            (
                "()[],^",
                vec![
                    (Tok::Sym(LParen), 0, 1),
                    (Tok::Sym(RParen), 1, 2),
                    (Tok::Sym(LBracket), 2, 3),
                    (Tok::Sym(RBracket), 3, 4),
                    (Tok::Sym(Comma), 4, 5),
                    (Tok::Sym(Caret), 5, 6),
                    (Tok::Eof, 6, 6),
                ],
            ),
            (
                "|||&&&!!=",
                vec![
                    (Tok::Sym(OrOr), 0, 2),
                    (Tok::Sym(Or), 2, 3),
                    (Tok::Sym(AndAnd), 3, 5),
                    (Tok::Sym(And), 5, 6),
                    (Tok::Sym(Bang), 6, 7),
                    (Tok::Sym(Ne), 7, 9),
                    (Tok::Eof, 9, 9),
                ],
            ),
            (
                "== < <= > >=",
                vec![
                    (Tok::Sym(EqEq), 0, 2),
                    (Tok::Sym(Lt), 3, 4),
                    (Tok::Sym(Le), 5, 7),
                    (Tok::Sym(Gt), 8, 9),
                    (Tok::Sym(Ge), 10, 12),
                    (Tok::Eof, 12, 12),
                ],
            ),
            ("007 2x", vec![(Tok::Number(7), 0, 3), (Tok::Number(2), 4, 5), (w("x"), 5, 6), (Tok::Eof, 6, 6)]),
            ("4294967295", vec![(Tok::Number(u32::MAX), 0, 10), (Tok::Eof, 10, 10)]),
            ("4294967296 x", vec![(Tok::Bad(ErrorKind::NumberTooLarge("4294967296".into())), 0, 10)]),
            ("LTEQ gt_2", vec![(w("lteq"), 0, 4), (w("gt_2"), 5, 9), (Tok::Eof, 9, 9)]),
            // Non-breaking space is whitespace too.
            ("\u{a0}all", vec![(w("all"), 2, 5), (Tok::Eof, 5, 5)]),
        ];
        for (src, want) in cases {
            assert_eq!(toks(src), want, "{src:?}");
        }
    }

    #[test]
    fn bad_input_ends_the_list() {
        let cases = [
            ("host = 'a'", 5, ErrorKind::UnexpectedChar('=')),
            ("a $", 2, ErrorKind::UnexpectedChar('$')),
            ("é", 0, ErrorKind::UnexpectedChar('é')),
            ("host 'a", 5, ErrorKind::UnterminatedName),
            ("'a''", 0, ErrorKind::UnterminatedName),
        ];
        for (src, at, kind) in cases {
            let t = tokenize(src);
            let last = t.last().map(|t| (t.tok.clone(), t.start));
            assert_eq!(last, Some((Tok::Bad(kind), at)), "{src:?}");
        }
    }

    #[test]
    fn shorten_is_char_safe() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(50);
        assert_eq!(shorten(&long), format!("{}…", "é".repeat(40)));
    }
}
