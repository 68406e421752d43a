//! Tokens of the expression language: the characters between `#{` and `}`.
//!
//! Not the template text around expressions (the parser scans that) and not the
//! grammar: the lexer only splits characters into tokens carrying byte offsets into
//! the whole parameter value, so every error can point at the right place.

use super::ExprError;

/// What a token is. Words are not split into names and keywords here because the
/// same word means different things by position: `x.not` is a property, `not x` an
/// operator, `if(` a function and `if` a parameter name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok<'a> {
    /// `[A-Za-z_][A-Za-z0-9_-]*`: hyphens are allowed after the first character
    /// because real parameter names use them (`nrpe-arg1`).
    Word(&'a str),
    /// Digits with an optional fraction: `5`, `100.0`. No sign, no exponent.
    Num(&'a str),
    /// A quoted string with its escapes resolved.
    Str(String),
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Bang,
    Plus,
    Minus,
    Dot,
    Comma,
    LParen,
    RParen,
    RBrace,
    /// A character that starts no token; the parser reports it together with what
    /// it expected at that point.
    Other(char),
    Eof,
}

/// A token and where it sits in the parameter value (byte offsets, `start..end`).
#[derive(Debug, Clone)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub start: usize,
    pub end: usize,
}

/// Reads tokens from `src` starting at a byte offset (just after an opening `#{`).
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// `pos` must be a character boundary of `src`; the parser only starts a lexer
    /// right after the ASCII `{` of `#{`.
    pub fn new(src: &'a str, pos: usize) -> Self {
        Lexer { src, pos }
    }

    pub fn next_token(&mut self) -> Result<Token<'a>, ExprError> {
        let bytes = self.src.as_bytes();
        while matches!(bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&b) = bytes.get(start) else {
            return Ok(Token { tok: Tok::Eof, start, end: start });
        };
        let next = bytes.get(start + 1).copied();
        let (tok, len) = match b {
            b'\'' | b'"' => return self.string(start, b),
            b'0'..=b'9' => return Ok(self.number(start)),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => return Ok(self.word(start)),
            b'=' if next == Some(b'=') => (Tok::EqEq, 2),
            b'!' if next == Some(b'=') => (Tok::NotEq, 2),
            b'<' if next == Some(b'=') => (Tok::Le, 2),
            b'>' if next == Some(b'=') => (Tok::Ge, 2),
            b'&' if next == Some(b'&') => (Tok::AndAnd, 2),
            b'|' if next == Some(b'|') => (Tok::OrOr, 2),
            b'=' => return Err(lone(start, "`==`", "`=`")),
            b'&' => return Err(lone(start, "`&&`", "`&`")),
            b'|' => return Err(lone(start, "`||`", "`|`")),
            b'!' => (Tok::Bang, 1),
            b'<' => (Tok::Lt, 1),
            b'>' => (Tok::Gt, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'.' => (Tok::Dot, 1),
            b',' => (Tok::Comma, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'}' => (Tok::RBrace, 1),
            _ => {
                // `start` is a character boundary (we only ever step over whole
                // characters or ASCII bytes), so there is a character here.
                let c = self.src.get(start..).and_then(|s| s.chars().next()).unwrap_or('\u{fffd}');
                (Tok::Other(c), c.len_utf8())
            }
        };
        self.pos = start + len;
        Ok(Token { tok, start, end: self.pos })
    }

    fn number(&mut self, start: usize) -> Token<'a> {
        let bytes = self.src.as_bytes();
        let mut end = start;
        while bytes.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        // A dot is a fraction only when a digit follows: `5.name` is a property of 5.
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            end += 1;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
        }
        self.pos = end;
        Token { tok: Tok::Num(&self.src[start..end]), start, end }
    }

    fn word(&mut self, start: usize) -> Token<'a> {
        let bytes = self.src.as_bytes();
        let mut end = start + 1;
        while bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-') {
            end += 1;
        }
        self.pos = end;
        Token { tok: Tok::Word(&self.src[start..end]), start, end }
    }

    /// A string in `quote`s. A backslash escapes a backslash or either quote; before
    /// any other character it is kept as written, so `'\d+'` means `\d+` (regular
    /// expressions in plugin arguments are common, C-style escapes are not).
    fn string(&mut self, start: usize, quote: u8) -> Result<Token<'a>, ExprError> {
        let quote = char::from(quote);
        let mut value = String::new();
        let mut chars = self.src.get(start + 1..).unwrap_or("").char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos = start + 1 + i + 1;
                return Ok(Token { tok: Tok::Str(value), start, end: self.pos });
            }
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.clone().next() {
                Some((_, e @ ('\\' | '\'' | '"'))) => {
                    value.push(e);
                    chars.next();
                }
                _ => value.push('\\'),
            }
        }
        Err(ExprError::new(start, format!("a closing {quote} for the string starting here"), "end of text"))
    }
}

fn lone(at: usize, expected: &str, found: &str) -> ExprError {
    ExprError::new(at, expected, found)
}

impl Token<'_> {
    /// How the token reads in an error's "found …": its source text, shortened.
    pub fn describe(&self, src: &str) -> String {
        if self.tok == Tok::Eof {
            return "end of text".to_owned();
        }
        let text = src.get(self.start..self.end).unwrap_or("");
        let short: String = text.chars().take(24).collect();
        if short.len() < text.len() { format!("`{short}…`") } else { format!("`{short}`") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(src: &str) -> Result<Vec<Tok<'_>>, ExprError> {
        let mut lexer = Lexer::new(src, 0);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            if t.tok == Tok::Eof {
                return Ok(out);
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn tokens() {
        use Tok::*;
        let cases: &[(&str, Vec<Tok<'_>>)] = &[
            ("host.address", vec![Word("host"), Dot, Word("address")]),
            ("nrpe-arg1 _x9", vec![Word("nrpe-arg1"), Word("_x9")]),
            ("5 100.0 5.name 1.5.x", vec![
                Num("5"),
                Num("100.0"),
                Num("5"),
                Dot,
                Word("name"),
                Num("1.5"),
                Dot,
                Word("x"),
            ]),
            ("== != < <= > >= && || ! + - , ( ) }", vec![
                EqEq, NotEq, Lt, Le, Gt, Ge, AndAnd, OrOr, Bang, Plus, Minus, Comma, LParen, RParen, RBrace,
            ]),
            ("!!x", vec![Bang, Bang, Word("x")]),
            ("'a}b' \"c'd\"", vec![Str("a}b".into()), Str("c'd".into())]),
            (r#"'it\'s' '\\d' '\d' 'a\"' '\\'"#, vec![
                Str("it's".into()),
                Str(r"\d".into()),
                Str(r"\d".into()),
                Str("a\"".into()),
                Str("\\".into()),
            ]),
            ("'é' é", vec![Str("é".into()), Other('é')]),
            (" \t\r\n", vec![]),
        ];
        for (src, want) in cases {
            match lex(src) {
                Ok(got) => assert_eq!(&got, want, "{src}"),
                Err(e) => panic!("{src}: {e}"),
            }
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&str, usize, &str)] = &[
            ("'abc", 0, "expected a closing ' for the string starting here, found end of text"),
            ("x \"abc'", 2, "expected a closing \" for the string starting here, found end of text"),
            ("'abc\\'", 0, "expected a closing ' for the string starting here, found end of text"),
            ("a = b", 2, "expected `==`, found `=`"),
            ("a & b", 2, "expected `&&`, found `&`"),
            ("a | b", 2, "expected `||`, found `|`"),
        ];
        for (src, offset, msg) in cases {
            let e = lex(src).expect_err(src);
            assert_eq!((e.offset, e.to_string().as_str()), (*offset, *msg), "{src}");
        }
    }
}
