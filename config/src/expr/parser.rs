//! Parsing a parameter value into a [`Template`]: the text scanner for `#{`, and a
//! recursive-descent parser for what is inside.
//!
//! Not evaluation. Unknown functions and methods and wrong argument counts are
//! rejected here, so a configuration that loads cannot fail on them later. Nothing
//! here can panic or recurse without bound: nesting is capped at [`MAX_DEPTH`] both
//! in the parser's own recursion and in the depth of the tree it builds (which the
//! evaluator, printer and drop glue then walk recursively).

use super::ast::{BinaryOp, Expr, Function, Method, Number, Part, Template, UnaryOp};
use super::lexer::{Lexer, Tok, Token};
use super::{ExprError, MAX_DEPTH};

/// Parses a parameter value. See the module docs of `expr` for the syntax.
pub fn parse_template(text: &str) -> Result<Template, ExprError> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let mut pending = String::new();
    // `done..` is text not yet copied into `pending`.
    let mut done = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'#' {
            i += 1;
            continue;
        }
        let run = i;
        while bytes.get(i) == Some(&b'#') {
            i += 1;
        }
        if bytes.get(i) != Some(&b'{') {
            continue;
        }
        // A run of `#` before `{`: each pair is one literal `#`; an odd one left
        // over opens an expression, otherwise the `{` is literal. All offsets here
        // sit on ASCII bytes, so slicing is on character boundaries.
        let hashes = i - run;
        pending.push_str(&text[done..run]);
        pending.extend(std::iter::repeat_n('#', hashes / 2));
        if hashes % 2 == 0 {
            pending.push('{');
            i += 1;
            done = i;
            continue;
        }
        if !pending.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut pending)));
        }
        let (expr, end) = parse_expression(text, i - 1)?;
        parts.push(Part::Expr(expr));
        i = end;
        done = end;
    }
    pending.push_str(&text[done..]);
    if !pending.is_empty() {
        parts.push(Part::Text(pending));
    }
    Ok(Template { parts })
}

/// Parses the expression of the `#{` at byte `open`; returns it and the offset just
/// past its closing `}`.
fn parse_expression(text: &str, open: usize) -> Result<(Expr, usize), ExprError> {
    let mut lexer = Lexer::new(text, open + 2);
    let tok = lexer.next_token()?;
    let mut p = Parser { src: text, lexer, tok, nesting: 0 };
    let (expr, _) = p.expr()?;
    match p.tok.tok {
        Tok::RBrace => Ok((expr, p.tok.end)),
        Tok::Eof => Err(ExprError::new(
            p.tok.start,
            format!("`}}` to close the `#{{` at byte {open}"),
            "end of text",
        )),
        _ => Err(p.unexpected("an operator or `}`")),
    }
}

/// An expression and the depth of its tree (a leaf is 1).
type Parsed = (Expr, usize);

#[derive(Debug)]
struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    /// The current token, not yet consumed.
    tok: Token<'a>,
    /// Open parentheses, argument lists and prefix operators around this point.
    nesting: usize,
}

impl<'a> Parser<'a> {
    fn bump(&mut self) -> Result<Token<'a>, ExprError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn unexpected(&self, expected: &str) -> ExprError {
        ExprError::new(self.tok.start, expected, self.tok.describe(self.src))
    }

    fn too_deep(at: usize) -> ExprError {
        ExprError::new(at, format!("at most {MAX_DEPTH} levels of nesting"), "deeper nesting")
    }

    /// Steps into a parenthesis, argument list or prefix operand opened at `at`.
    fn enter(&mut self, at: usize) -> Result<(), ExprError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH { Err(Self::too_deep(at)) } else { Ok(()) }
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// Checks the depth of a node just built from children of depth `children`.
    fn node(expr: Expr, children: usize, at: usize) -> Result<Parsed, ExprError> {
        let depth = children + 1;
        if depth > MAX_DEPTH { Err(Self::too_deep(at)) } else { Ok((expr, depth)) }
    }

    fn expr(&mut self) -> Result<Parsed, ExprError> {
        self.left_assoc(Self::and, |t| match t {
            Tok::OrOr | Tok::Word("or") => Some(BinaryOp::Or),
            _ => None,
        })
    }

    fn and(&mut self) -> Result<Parsed, ExprError> {
        self.left_assoc(Self::equality, |t| match t {
            Tok::AndAnd | Tok::Word("and") => Some(BinaryOp::And),
            _ => None,
        })
    }

    fn equality(&mut self) -> Result<Parsed, ExprError> {
        self.comparison(Self::relational, |t| match t {
            Tok::EqEq => Some(BinaryOp::Eq),
            Tok::NotEq => Some(BinaryOp::Ne),
            _ => None,
        })
    }

    fn relational(&mut self) -> Result<Parsed, ExprError> {
        self.comparison(Self::additive, |t| match t {
            Tok::Lt => Some(BinaryOp::Lt),
            Tok::Le => Some(BinaryOp::Le),
            Tok::Gt => Some(BinaryOp::Gt),
            Tok::Ge => Some(BinaryOp::Ge),
            _ => None,
        })
    }

    fn additive(&mut self) -> Result<Parsed, ExprError> {
        self.left_assoc(Self::unary, |t| match t {
            Tok::Plus => Some(BinaryOp::Add),
            _ => None,
        })
    }

    /// `next (op next)*`, grouping to the left. A loop, not recursion, so a long
    /// `a + b + c …` costs no stack here; the tree depth check still applies.
    fn left_assoc(
        &mut self,
        next: fn(&mut Self) -> Result<Parsed, ExprError>,
        op_of: fn(&Tok<'_>) -> Option<BinaryOp>,
    ) -> Result<Parsed, ExprError> {
        let (mut left, mut depth) = next(self)?;
        while let Some(op) = op_of(&self.tok.tok) {
            let at = self.bump()?.start;
            let (right, rdepth) = next(self)?;
            (left, depth) = Self::node(Expr::Binary(op, Box::new(left), Box::new(right)), depth.max(rdepth), at)?;
        }
        Ok((left, depth))
    }

    /// `next (op next)?`: comparisons do not chain, because `a == b == c` reads as
    /// a three-way test but would compare a boolean with `c`.
    fn comparison(
        &mut self,
        next: fn(&mut Self) -> Result<Parsed, ExprError>,
        op_of: fn(&Tok<'_>) -> Option<BinaryOp>,
    ) -> Result<Parsed, ExprError> {
        let (left, depth) = next(self)?;
        let Some(op) = op_of(&self.tok.tok) else {
            return Ok((left, depth));
        };
        let at = self.bump()?.start;
        let (right, rdepth) = next(self)?;
        if op_of(&self.tok.tok).is_some() {
            return Err(self.unexpected("parentheses around a comparison before comparing it again"));
        }
        Self::node(Expr::Binary(op, Box::new(left), Box::new(right)), depth.max(rdepth), at)
    }

    fn unary(&mut self) -> Result<Parsed, ExprError> {
        let op = match self.tok.tok {
            Tok::Bang | Tok::Word("not") => UnaryOp::Not,
            Tok::Minus => UnaryOp::Neg,
            _ => return self.postfix(),
        };
        let at = self.bump()?.start;
        self.enter(at)?;
        let (operand, depth) = self.unary()?;
        self.leave();
        Self::node(Expr::Unary(op, Box::new(operand)), depth, at)
    }

    /// `primary ('.' name ('(' args ')')?)*`
    fn postfix(&mut self) -> Result<Parsed, ExprError> {
        let (mut expr, mut depth) = self.primary()?;
        while self.tok.tok == Tok::Dot {
            self.bump()?;
            let Tok::Word(name) = self.tok.tok else {
                return Err(self.unexpected("a property or method name after `.`"));
            };
            let at = self.bump()?.start;
            if self.tok.tok != Tok::LParen {
                (expr, depth) = Self::node(Expr::Member(Box::new(expr), name.to_owned()), depth, at)?;
                continue;
            }
            let Some(method) = Method::from_name(name) else {
                let known: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                return Err(ExprError::new(
                    at,
                    format!("a known method ({})", known.join(", ")),
                    format!("`{name}`"),
                ));
            };
            let (args, adepth) = self.args(at, method.name(), method.arity())?;
            (expr, depth) = Self::node(Expr::Method(Box::new(expr), method, args), depth.max(adepth), at)?;
        }
        Ok((expr, depth))
    }

    fn primary(&mut self) -> Result<Parsed, ExprError> {
        let at = self.tok.start;
        let expr = match &self.tok.tok {
            Tok::Str(s) => Expr::Str(s.clone()),
            Tok::Num(text) => {
                let value = text.parse::<f64>().map_err(|_| self.unexpected("a number"))?;
                Expr::Num(Number { text: (*text).to_owned(), value })
            }
            Tok::Word("true") => Expr::Bool(true),
            Tok::Word("false") => Expr::Bool(false),
            Tok::Word("null") => Expr::Null,
            Tok::Word("and" | "or") => return Err(self.unexpected("an expression")),
            &Tok::Word(name) => {
                self.bump()?;
                if self.tok.tok != Tok::LParen {
                    return Ok((Expr::Name(name.to_owned()), 1));
                }
                let Some(func) = Function::from_name(name) else {
                    let known: Vec<_> = Function::ALL.iter().map(|f| f.name()).collect();
                    return Err(ExprError::new(
                        at,
                        format!("a known function ({})", known.join(", ")),
                        format!("`{name}`"),
                    ));
                };
                let (args, depth) = self.args(at, func.name(), func.arity())?;
                return Self::node(Expr::Call(func, args), depth, at);
            }
            Tok::LParen => {
                self.bump()?;
                self.enter(at)?;
                let inner = self.expr()?;
                self.leave();
                if self.tok.tok != Tok::RParen {
                    return Err(self.unexpected("an operator or `)`"));
                }
                self.bump()?;
                return Ok(inner);
            }
            _ => return Err(self.unexpected("an expression")),
        };
        self.bump()?;
        Ok((expr, 1))
    }

    /// `'(' (expr (',' expr)*)? ')'` after a function or method named `name` at byte
    /// `at`; returns the arguments and their greatest depth.
    fn args(&mut self, at: usize, name: &str, (min, max): (usize, usize)) -> Result<(Vec<Expr>, usize), ExprError> {
        let open = self.bump()?.start; // the `(`
        self.enter(open)?;
        let mut args = Vec::new();
        let mut depth = 0;
        if self.tok.tok != Tok::RParen {
            loop {
                let (arg, d) = self.expr()?;
                args.push(arg);
                depth = depth.max(d);
                match self.tok.tok {
                    Tok::Comma => {
                        self.bump()?;
                    }
                    Tok::RParen => break,
                    _ => return Err(self.unexpected("`,` or `)`")),
                }
            }
        }
        self.bump()?; // the `)`
        self.leave();
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (1, 1) => "1 argument".to_owned(),
                (min, usize::MAX) => format!("at least {min} argument{}", if min == 1 { "" } else { "s" }),
                (min, max) if min == max => format!("{min} arguments"),
                (min, max) => format!("{min} to {max} arguments"),
            };
            let found = match args.len() {
                0 => "none".to_owned(),
                1 => "1".to_owned(),
                n => n.to_string(),
            };
            return Err(ExprError::new(at, format!("{expected} to `{name}`"), found));
        }
        Ok((args, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Expr {
        Expr::Name(n.into())
    }

    fn text(t: &str) -> Part {
        Part::Text(t.into())
    }

    fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
        Expr::Binary(op, Box::new(l), Box::new(r))
    }

    fn member(recv: Expr, n: &str) -> Expr {
        Expr::Member(Box::new(recv), n.into())
    }

    fn num(t: &str) -> Expr {
        Expr::Num(Number { text: t.into(), value: t.parse().unwrap_or(f64::NAN) })
    }

    #[test]
    fn templates() {
        use BinaryOp::*;
        let cases: Vec<(&str, Vec<Part>)> = vec![
            ("", vec![]),
            ("just text", vec![text("just text")]),
            ("a } b { c # d", vec![text("a } b { c # d")]),
            ("#{warning}", vec![Part::Expr(name("warning"))]),
            ("#{nagios.path}/check_ping -H #{host.address} -w #{warning}", vec![
                Part::Expr(member(name("nagios"), "path")),
                text("/check_ping -H "),
                Part::Expr(member(name("host"), "address")),
                text(" -w "),
                Part::Expr(name("warning")),
            ]),
            ("##{x} and ###{y}", vec![text("#{x} and #"), Part::Expr(name("y"))]),
            ("#{'#{'}", vec![Part::Expr(Expr::Str("#{".into()))]),
            ("é#{x}é", vec![text("é"), Part::Expr(name("x")), text("é")]),
            ("#{true}#{false}#{null}#{1.5}#{\"s\"}", vec![
                Part::Expr(Expr::Bool(true)),
                Part::Expr(Expr::Bool(false)),
                Part::Expr(Expr::Null),
                Part::Expr(num("1.5")),
                Part::Expr(Expr::Str("s".into())),
            ]),
            // Precedence, loosest first: || && (== !=) (< <= > >=) + prefix postfix.
            ("#{a || b && c == d < e + f.g}", vec![Part::Expr(bin(
                Or,
                name("a"),
                bin(And, name("b"), bin(Eq, name("c"), bin(Lt, name("d"), bin(Add, name("e"), member(name("f"), "g"))))),
            ))]),
            ("#{a + b < c == d && e || f}", vec![Part::Expr(bin(
                Or,
                bin(And, bin(Eq, bin(Lt, bin(Add, name("a"), name("b")), name("c")), name("d")), name("e")),
                name("f"),
            ))]),
            ("#{a or b or c}", vec![Part::Expr(bin(Or, bin(Or, name("a"), name("b")), name("c")))]),
            ("#{!a == b}", vec![Part::Expr(bin(Eq, Expr::Unary(UnaryOp::Not, Box::new(name("a"))), name("b")))]),
            ("#{not a.b}", vec![Part::Expr(Expr::Unary(UnaryOp::Not, Box::new(member(name("a"), "b"))))]),
            ("#{a != b}#{a <= b}#{a > b}#{a >= b}", vec![
                Part::Expr(bin(Ne, name("a"), name("b"))),
                Part::Expr(bin(Le, name("a"), name("b"))),
                Part::Expr(bin(Gt, name("a"), name("b"))),
                Part::Expr(bin(Ge, name("a"), name("b"))),
            ]),
            ("#{x.getParameter('p')}", vec![Part::Expr(Expr::Method(
                Box::new(name("x")),
                Method::GetParameter,
                vec![Expr::Str("p".into())],
            ))]),
            ("#{if(a, b)}#{coalesce(a)}", vec![
                Part::Expr(Expr::Call(Function::If, vec![name("a"), name("b")])),
                Part::Expr(Expr::Call(Function::Coalesce, vec![name("a")])),
            ]),
            ("#{if}#{coalesce}", vec![Part::Expr(name("if")), Part::Expr(name("coalesce"))]),
        ];
        for (input, parts) in cases {
            assert_eq!(parse_template(input), Ok(Template { parts }), "{input}");
        }
    }

    /// Each bad input, the byte offset of the error, and its message.
    #[test]
    fn errors() {
        let deep_parens = format!("#{{{}x{}}}", "(".repeat(40), ")".repeat(40));
        let deep_not = format!("#{{{}x}}", "!".repeat(40));
        let long_chain = format!("#{{x{}}}", ".y".repeat(40));
        let long_sum = format!("#{{x{}}}", " + y".repeat(40));
        let long_args = format!("#{{coalesce({}x)}}", "x, ".repeat(1000));
        let fine_parens = format!("#{{{}x{}}}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse_template(&long_args).is_ok());
        assert!(parse_template(&fine_parens).is_ok());
        let too_deep = "expected at most 32 levels of nesting, found deeper nesting";
        let cases: &[(&str, usize, &str)] = &[
            ("#{frobnicate(1)}", 2, "expected a known function (coalesce, if, resolve_credentials), found `frobnicate`"),
            ("x #{host.frob('a')}", 9, "expected a known method (getParameter), found `frob`"),
            ("#{getParameter('a')}", 2, "expected a known function (coalesce, if, resolve_credentials), found `getParameter`"),
            ("-H #{host.address", 17, "expected `}` to close the `#{` at byte 3, found end of text"),
            ("#{", 2, "expected an expression, found end of text"),
            ("#{}", 2, "expected an expression, found `}`"),
            ("#{ 'abc}", 3, "expected a closing ' for the string starting here, found end of text"),
            ("#{host.address foo}", 15, "expected an operator or `}`, found `foo`"),
            ("#{a b}", 4, "expected an operator or `}`, found `b`"),
            ("#{a)}", 3, "expected an operator or `}`, found `)`"),
            ("#{(a}", 4, "expected an operator or `)`, found `}`"),
            ("#{a.}", 4, "expected a property or method name after `.`, found `}`"),
            ("#{a.'b'}", 4, "expected a property or method name after `.`, found `'b'`"),
            ("#{a ==}", 6, "expected an expression, found `}`"),
            ("#{a == b == c}", 9, "expected parentheses around a comparison before comparing it again, found `==`"),
            ("#{a < b >= c}", 8, "expected parentheses around a comparison before comparing it again, found `>=`"),
            ("#{a and}", 7, "expected an expression, found `}`"),
            ("#{and}", 2, "expected an expression, found `and`"),
            ("#{a @ b}", 4, "expected an operator or `}`, found `@`"),
            ("#{€}", 2, "expected an expression, found `€`"),
            ("#{coalesce(a b)}", 13, "expected `,` or `)`, found `b`"),
            ("#{coalesce(a,)}", 13, "expected an expression, found `)`"),
            ("#{coalesce()}", 2, "expected at least 1 argument to `coalesce`, found none"),
            ("#{if(a)}", 2, "expected 2 to 3 arguments to `if`, found 1"),
            ("#{if(a, b, c, d)}", 2, "expected 2 to 3 arguments to `if`, found 4"),
            ("#{resolve_credentials()}", 2, "expected 1 argument to `resolve_credentials`, found none"),
            ("#{h.getParameter('a', 'b')}", 4, "expected 1 argument to `getParameter`, found 2"),
            ("ok #{a} then #{b", 16, "expected `}` to close the `#{` at byte 13, found end of text"),
            ("#{a}#{b c}", 8, "expected an operator or `}`, found `c`"),
            ("#{'a very long string literal indeed' x}", 38, "expected an operator or `}`, found `x`"),
            ("#{x 'a very long string literal indeed'}", 4, "expected an operator or `}`, found `'a very long string lite…`"),
            (&deep_parens, 34, too_deep),
            (&deep_not, 34, too_deep),
            (&long_chain, 66, too_deep),
            (&long_sum, 128, too_deep),
        ];
        for (input, offset, msg) in cases {
            let e = parse_template(input).expect_err(input);
            assert_eq!((e.offset, e.to_string().as_str()), (*offset, *msg), "{input}");
        }
    }
}
