//! The parsed form of a parameter value: [`Template`], [`Expr`], their canonical text
//! ([`fmt::Display`]) and what they refer to ([`Reference`]), for validation.
//!
//! Not parsing (see `parser`) and not evaluation (see `eval`). The canonical text
//! re-parses to an equal value: the printer adds parentheses exactly where the
//! precedence needs them and escapes `#{` in literal text.

use std::fmt::{self, Write as _};

/// Names that denote model objects rather than parameters (SEMANTICS §4). `global`
/// is not here: `global.NAME` is a site parameter, not an object.
pub const ROOTS: [&str; 8] = ["host", "service", "trap", "cluster", "resource", "this", "site", "location"];

/// A parameter value: literal text with embedded `#{ expr }` parts.
///
/// Invariant (kept by the parser and [`Template::literal`]): no empty text part and
/// no two text parts in a row, so equal text gives equal templates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub(crate) parts: Vec<Part>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

/// An expression inside `#{…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    /// A bare name: `warning`, `host`.
    Name(String),
    /// `receiver.name`.
    Member(Box<Expr>, String),
    /// `receiver.method(args)`; the arity was checked by the parser.
    Method(Box<Expr>, Method, Vec<Expr>),
    /// `function(args)`; the arity was checked by the parser.
    Call(Function, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}

/// A number literal, kept as written so the canonical text is exact (`100.0` stays
/// `100.0`); `value` is derived from `text` and may be infinite for absurdly long
/// literals, which evaluate to null.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub value: f64,
}

impl PartialEq for Number {
    // `value` is a function of `text`; comparing the text keeps `Eq` honest.
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Number {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `coalesce(a, b, …)`: the first argument that is neither null nor empty text.
    Coalesce,
    /// `if(cond, then)` or `if(cond, then, else)`.
    If,
    /// `resolve_credentials('kind')`: delegated to the environment.
    ResolveCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `obj.getParameter('name')`.
    GetParameter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `!x`, `not x`.
    Not,
    /// `-x`.
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
}

impl Function {
    pub const ALL: [Function; 3] = [Function::Coalesce, Function::If, Function::ResolveCredentials];

    pub fn name(self) -> &'static str {
        match self {
            Function::Coalesce => "coalesce",
            Function::If => "if",
            Function::ResolveCredentials => "resolve_credentials",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Smallest and largest number of arguments.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Function::Coalesce => (1, usize::MAX),
            Function::If => (2, 3),
            Function::ResolveCredentials => (1, 1),
        }
    }
}

impl Method {
    pub const ALL: [Method; 1] = [Method::GetParameter];

    pub fn name(self) -> &'static str {
        match self {
            Method::GetParameter => "getParameter",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn arity(self) -> (usize, usize) {
        match self {
            Method::GetParameter => (1, 1),
        }
    }
}

impl BinaryOp {
    /// Binding strength, higher binds tighter (see the table in the module docs).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne => 3,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 4,
            BinaryOp::Add => 5,
        }
    }

    /// Comparisons do not chain (`a == b == c` is an error), the rest group left.
    pub fn is_comparison(self) -> bool {
        matches!(self.precedence(), 3 | 4)
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "||",
            BinaryOp::And => "&&",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
        }
    }
}

const PREC_UNARY: u8 = 6;
const PREC_POSTFIX: u8 = 7;
const PREC_ATOM: u8 = 8;

/// Something an expression reads, as validation needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<'a> {
    /// A model object from [`ROOTS`] and the properties read along it:
    /// `host.location.name` is `Root { root: "host", path: ["location", "name"] }`.
    /// A `getParameter` call on it shows up as a [`Reference::Root`] for its
    /// receiver (the call's argument is an ordinary expression).
    Root { root: &'a str, path: Vec<&'a str> },
    /// `global.NAME`: the site parameter `NAME` (dots kept: `global.a.b` is `a.b`).
    Global(String),
    /// Any other name, bare or dotted (`warning`, `nagios.path`): an earlier
    /// parameter of the command, else the site parameter of that name.
    Parameter(String),
}

impl Template {
    /// A template that is exactly `text`, with no expressions.
    pub fn literal(text: impl Into<String>) -> Template {
        let text = text.into();
        let parts = if text.is_empty() { Vec::new() } else { vec![Part::Text(text)] };
        Template { parts }
    }

    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// True when there is no `#{…}` at all (escaped `##{` does not count).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The text of a literal template.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Every expression node, outermost first, in text order.
    pub fn walk(&self, visit: &mut dyn FnMut(&Expr)) {
        for part in &self.parts {
            if let Part::Expr(e) = part {
                e.walk(visit);
            }
        }
    }

    /// The objects and parameters the template reads, in text order (with repeats).
    pub fn references(&self) -> Vec<Reference<'_>> {
        let mut out = Vec::new();
        for part in &self.parts {
            if let Part::Expr(e) = part {
                e.references(&mut out);
            }
        }
        out
    }

    /// The functions the template calls, in text order (with repeats).
    pub fn functions(&self) -> Vec<Function> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Call(f, _) = e {
                out.push(*f);
            }
        });
        out
    }
}

impl Expr {
    /// Pre-order walk. Recursion depth is bounded by the parser's nesting limit.
    pub fn walk(&self, visit: &mut dyn FnMut(&Expr)) {
        visit(self);
        match self {
            Expr::Null | Expr::Bool(_) | Expr::Num(_) | Expr::Str(_) | Expr::Name(_) => {}
            Expr::Member(recv, _) => recv.walk(visit),
            Expr::Method(recv, _, args) => {
                recv.walk(visit);
                args.iter().for_each(|a| a.walk(visit));
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.walk(visit)),
            Expr::Unary(_, x) => x.walk(visit),
            Expr::Binary(_, l, r) => {
                l.walk(visit);
                r.walk(visit);
            }
        }
    }

    /// For a pure chain of names (`a`, `a.b.c`) the names in order; otherwise None.
    pub(crate) fn chain(&self) -> Option<Vec<&str>> {
        let mut names = Vec::new();
        let mut e = self;
        loop {
            match e {
                Expr::Member(recv, name) => {
                    names.push(name.as_str());
                    e = recv;
                }
                Expr::Name(name) => {
                    names.push(name.as_str());
                    names.reverse();
                    return Some(names);
                }
                _ => return None,
            }
        }
    }

    fn references<'a>(&'a self, out: &mut Vec<Reference<'a>>) {
        if let Some(names) = self.chain() {
            out.push(Reference::of_chain(&names));
            return;
        }
        match self {
            Expr::Null | Expr::Bool(_) | Expr::Num(_) | Expr::Str(_) | Expr::Name(_) => {}
            Expr::Member(recv, _) => recv.references(out),
            Expr::Method(recv, _, args) => {
                recv.references(out);
                args.iter().for_each(|a| a.references(out));
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.references(out)),
            Expr::Unary(_, x) => x.references(out),
            Expr::Binary(_, l, r) => {
                l.references(out);
                r.references(out);
            }
        }
    }

    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary(op, ..) => op.precedence(),
            Expr::Unary(..) => PREC_UNARY,
            Expr::Member(..) | Expr::Method(..) => PREC_POSTFIX,
            _ => PREC_ATOM,
        }
    }

    /// Writes `self`, in parentheses when it binds less tightly than `min`.
    fn write(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.precedence() < min {
            f.write_char('(')?;
            self.write(f, 0)?;
            return f.write_char(')');
        }
        match self {
            Expr::Null => f.write_str("null"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Num(n) => f.write_str(&n.text),
            Expr::Str(s) => write_string(f, s),
            Expr::Name(n) => f.write_str(n),
            Expr::Member(recv, name) => {
                recv.write(f, PREC_POSTFIX)?;
                write!(f, ".{name}")
            }
            Expr::Method(recv, m, args) => {
                recv.write(f, PREC_POSTFIX)?;
                write!(f, ".{}", m.name())?;
                write_args(f, args)
            }
            Expr::Call(func, args) => {
                f.write_str(func.name())?;
                write_args(f, args)
            }
            Expr::Unary(op, x) => {
                f.write_char(match op {
                    UnaryOp::Not => '!',
                    UnaryOp::Neg => '-',
                })?;
                x.write(f, PREC_UNARY)
            }
            Expr::Binary(op, l, r) => {
                let p = op.precedence();
                l.write(f, if op.is_comparison() { p + 1 } else { p })?;
                write!(f, " {} ", op.symbol())?;
                r.write(f, p + 1)
            }
        }
    }
}

impl Reference<'_> {
    /// How a chain of names resolves; `eval` uses the same rule, so validation and
    /// evaluation agree.
    pub(crate) fn of_chain<'a>(names: &[&'a str]) -> Reference<'a> {
        match names {
            ["global", rest @ ..] if !rest.is_empty() => Reference::Global(rest.join(".")),
            [root, path @ ..] if ROOTS.contains(root) => Reference::Root { root, path: path.to_vec() },
            _ => Reference::Parameter(names.join(".")),
        }
    }
}

fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('\'')
}

fn write_args(f: &mut fmt::Formatter<'_>, args: &[Expr]) -> fmt::Result {
    f.write_char('(')?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        a.write(f, 0)?;
    }
    f.write_char(')')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}

impl fmt::Display for Template {
    /// Canonical text. In literal text a run of `#` just before `{` is doubled, and
    /// so is a run that ends a text part followed by an expression, which is exactly
    /// what the parser's escape rule undoes (see the module docs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Expr(e) => write!(f, "#{{{e}}}")?,
                Part::Text(t) => {
                    let before_expr = matches!(parts.peek(), Some(Part::Expr(_)));
                    write_text(f, t, before_expr)?;
                }
            }
        }
        Ok(())
    }
}

fn write_text(f: &mut fmt::Formatter<'_>, text: &str, before_expr: bool) -> fmt::Result {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut done = 0;
    while i < bytes.len() {
        if bytes[i] != b'#' {
            i += 1;
            continue;
        }
        let run = i;
        while bytes.get(i) == Some(&b'#') {
            i += 1;
        }
        let special = match bytes.get(i) {
            Some(b'{') => true,
            Some(_) => false,
            None => before_expr,
        };
        if special {
            // `run..i` are ASCII `#`s, so both ends are character boundaries.
            f.write_str(&text[done..i])?;
            f.write_str(&text[run..i])?;
            done = i;
        }
    }
    f.write_str(&text[done..])
}

#[cfg(test)]
mod tests {
    use super::super::parse_template;
    use super::*;

    /// Each input and its canonical text; the canonical text must re-parse to the
    /// same template and print itself again.
    #[test]
    fn canonical_text() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("plain text", "plain text"),
            ("#{ host.address }", "#{host.address}"),
            ("-H #{host . address} -w #{warning}", "-H #{host.address} -w #{warning}"),
            ("#{a and b or not c}", "#{a && b || !c}"),
            ("#{(a || b) && c}", "#{(a || b) && c}"),
            ("#{a || (b && c)}", "#{a || b && c}"),
            ("#{((a))}", "#{a}"),
            ("#{a + (b + c)}", "#{a + (b + c)}"),
            ("#{(a + b) + c}", "#{a + b + c}"),
            ("#{(a == b) == c}", "#{(a == b) == c}"),
            ("#{a < b == c >= d}", "#{a < b == c >= d}"),
            ("#{!(a == b)}", "#{!(a == b)}"),
            ("#{- -5}", "#{--5}"),
            ("#{-(5).x}", "#{-5.x}"),
            ("#{(-5).x}", "#{(-5).x}"),
            ("#{(a + b).name}", "#{(a + b).name}"),
            ("#{(nagios).path}", "#{nagios.path}"),
            ("#{\"it's\"}", r"#{'it\'s'}"),
            (r"#{'\d\\'}", r"#{'\\d\\'}"),
            ("#{100.0}#{007}", "#{100.0}#{007}"),
            ("#{x.not.true}", "#{x.not.true}"),
            ("#{coalesce( a , 'b' )}", "#{coalesce(a, 'b')}"),
            ("#{if(x,1)}", "#{if(x, 1)}"),
            ("#{host.location.getParameter ( 'x' )}", "#{host.location.getParameter('x')}"),
            ("##{not an expression}", "##{not an expression}"),
            ("a ### b #", "a ### b #"),
            ("###{x}", "###{x}"),
            ("####{x}", "####{x}"),
            ("#####{x}", "#####{x}"),
            ("x#{'#'}#{y}", "x#{'#'}#{y}"),
            ("{}}#{'}'}", "{}}#{'}'}"),
        ];
        for (input, want) in cases {
            let t = parse_template(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let text = t.to_string();
            assert_eq!(&text, want, "{input}");
            let again = parse_template(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(again, t, "{input}");
        }
    }

    /// Literal text with `#` in awkward places prints to something that parses back.
    #[test]
    fn literal_escapes() {
        let cases: &[(&[Part], &str)] = &[
            (&[Part::Text("#{".into())], "##{"),
            (&[Part::Text("a#".into()), Part::Expr(Expr::Name("x".into()))], "a###{x}"),
            (&[Part::Text("##{#".into()), Part::Expr(Expr::Null)], "####{###{null}"),
            (&[Part::Expr(Expr::Null), Part::Text("#".into())], "#{null}#"),
        ];
        for (parts, want) in cases {
            let t = Template { parts: parts.to_vec() };
            assert_eq!(&t.to_string(), want);
            assert_eq!(parse_template(want), Ok(t), "{want}");
        }
        assert_eq!(Template::literal("a#{b").to_string(), "a##{b");
        assert_eq!(Template::literal(""), Template::default());
    }

    #[test]
    fn references() {
        let cases: &[(&str, &[Reference<'_>])] = &[
            ("no expressions", &[]),
            ("#{host.address} #{warning}", &[
                Reference::Root { root: "host", path: vec!["address"] },
                Reference::Parameter("warning".into()),
            ]),
            ("#{nagios.path}/check #{global.a.b} #{global}", &[
                Reference::Parameter("nagios.path".into()),
                Reference::Global("a.b".into()),
                Reference::Parameter("global".into()),
            ]),
            ("#{coalesce(host.getParameter(p), host.location.getParameter('c'), 'public')}", &[
                Reference::Root { root: "host", path: vec![] },
                Reference::Parameter("p".into()),
                Reference::Root { root: "host", path: vec!["location"] },
            ]),
            ("#{resolve_credentials('snmp').username} #{(a + b).c} #{location}", &[
                Reference::Parameter("a".into()),
                Reference::Parameter("b".into()),
                Reference::Root { root: "location", path: vec![] },
            ]),
        ];
        for (input, want) in cases {
            let t = parse_template(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&t.references(), want, "{input}");
        }
    }

    #[test]
    fn literal_and_functions() {
        let cases: &[(&str, Option<&str>, &[Function])] = &[
            ("", Some(""), &[]),
            ("abc", Some("abc"), &[]),
            ("a##{b}", Some("a#{b}"), &[]),
            ("#{x}", None, &[]),
            ("#{if(a, coalesce(b), resolve_credentials('x'))}", None, &[
                Function::If,
                Function::Coalesce,
                Function::ResolveCredentials,
            ]),
        ];
        for (input, literal, functions) in cases {
            let t = parse_template(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(t.as_literal(), *literal, "{input}");
            assert_eq!(t.is_literal(), literal.is_some(), "{input}");
            assert_eq!(&t.functions(), functions, "{input}");
        }
    }
}
