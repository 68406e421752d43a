//! Recursive-descent parser for the condition grammar of SEMANTICS §6.
//!
//! Never panics and never recurses deeper than [`MAX_DEPTH`] levels of `(`, `not` and
//! `case … when`; chains of `and`/`or`/`xor` are loops, not recursion.

use super::MAX_DEPTH;
use super::ast::{
    CaseArm, CheckKind, CheckRef, CmpOp, Condition, Expr, Function, Located, PoolMembers, PoolRef, Quantity, Values,
    number_word,
};
use super::error::{ConditionError, ErrorKind};
use super::lexer::{Sym, Tok, Token, shorten, tokenize};
use crate::status::Status;

type Result<T> = std::result::Result<T, ConditionError>;

/// Parses a whole condition; trailing text is an error.
pub fn parse(text: &str) -> Result<Condition> {
    let mut p = Parser { src: text, toks: tokenize(text), pos: 0, depth: 0 };
    let expr = p.expr()?;
    if !matches!(p.peek().tok, Tok::Eof) {
        return Err(p.unexpected("`and`, `or`, `xor` or the end of the condition"));
    }
    Ok(expr)
}

const EXPECT_PRIMARY: &str = "a check (`host`, `service`, `trap`, `cluster`, `resource`), a function (`all`, `any`, \
     `one`..`nine`, `majority`, `quorum`, `count`, `case`), `not` or `(`";
const EXPECT_CHECK: &str = "a check (`host`, `service`, `trap`, `cluster`, `resource`)";
const EXPECT_VALUES: &str = "values: `[`, `hosts in pool`, `services in pool`, `traps in pool`, \
     `service '…' on hosts in pool` or `trap '…' on hosts in pool`";
const EXPECT_NAME: &str = "a quoted name";
const EXPECT_STATUS: &str = "a status (`ok`, `warning`, `critical`, …)";
const EXPECT_OP: &str = "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`, `eq`, `ne`, `lt`, `lteq`, `gt`, `gteq`)";

struct Parser<'a> {
    src: &'a str,
    /// Ends with exactly one `Eof` or `Bad` token (see [`tokenize`]).
    toks: Vec<Token>,
    /// Index of the next token; never past the last one.
    pos: usize,
    depth: usize,
}

/// A stand-in for a token list that somehow lacks its terminator; `tokenize` always
/// adds one, so this is never seen, but `peek` stays total without an `expect`.
static END: Token = Token { tok: Tok::Eof, start: 0, end: 0 };

impl Parser<'_> {
    // ---- grammar, top down -----------------------------------------------------

    fn expr(&mut self) -> Result<Condition> {
        self.enter()?;
        let e = self.xor();
        self.depth -= 1;
        e
    }

    fn xor(&mut self) -> Result<Condition> {
        let first = self.or()?;
        self.chain(first, |p| p.eat_sym(Sym::Caret) || p.eat_word("xor"), Self::or, Expr::Xor)
    }

    fn or(&mut self) -> Result<Condition> {
        let first = self.and()?;
        self.chain(first, |p| p.eat_sym(Sym::OrOr) || p.eat_sym(Sym::Or) || p.eat_word("or"), Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Condition> {
        let first = self.unary()?;
        self.chain(
            first,
            |p| p.eat_sym(Sym::AndAnd) || p.eat_sym(Sym::And) || p.eat_word("and"),
            Self::unary,
            Expr::And,
        )
    }

    /// `first (op next)*` as one n-ary node, or `first` alone.
    fn chain(
        &mut self,
        first: Condition,
        mut op: impl FnMut(&mut Self) -> bool,
        next: fn(&mut Self) -> Result<Condition>,
        node: fn(Vec<Condition>) -> Condition,
    ) -> Result<Condition> {
        if !op(self) {
            return Ok(first);
        }
        let mut items = vec![first, next(self)?];
        while op(self) {
            items.push(next(self)?);
        }
        Ok(node(items))
    }

    fn unary(&mut self) -> Result<Condition> {
        if self.peek().tok == Tok::Sym(Sym::Bang) || self.word() == Some("not") {
            // Enter before consuming, so TooDeep points at the `not` that is too many.
            self.enter()?;
            self.bump();
            let operand = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(operand?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition> {
        if self.peek().tok == Tok::Sym(Sym::LParen) {
            // Enter before consuming, so TooDeep points at the `(` that is too many.
            self.enter()?;
            self.bump();
            let e = self.xor();
            self.depth -= 1;
            let e = e?;
            self.expect_sym(Sym::RParen, "`)`")?;
            return Ok(e);
        }
        let Tok::Word(w) = &self.peek().tok else {
            return Err(self.unexpected(EXPECT_PRIMARY));
        };
        match w.as_str() {
            "host" | "service" | "trap" | "cluster" | "resource" => Ok(Expr::Check(self.check()?)),
            "case" => self.case(),
            _ => Ok(Expr::Function(self.function()?)),
        }
    }

    fn check(&mut self) -> Result<Located<CheckRef>> {
        let offset = self.peek().start;
        let kind = match self.word() {
            Some("host") => CheckKind::Host,
            Some("service") => CheckKind::Service,
            Some("trap") => CheckKind::Trap,
            Some("cluster") => CheckKind::Cluster,
            Some("resource") => CheckKind::Resource,
            _ => return Err(self.unexpected(EXPECT_CHECK)),
        };
        self.bump();
        let name = self.name()?;
        let on = match kind {
            CheckKind::Host | CheckKind::Cluster => None,
            CheckKind::Service | CheckKind::Trap => {
                self.expect_word("on", "`on`")?;
                self.eat_word("host");
                Some(self.name()?)
            }
            CheckKind::Resource => {
                self.expect_word("on", "`on`")?;
                self.eat_word("cluster");
                Some(self.name()?)
            }
        };
        Ok(Located { value: CheckRef { kind, name, on }, offset })
    }

    fn values(&mut self) -> Result<Values> {
        let offset = self.peek().start;
        if self.eat_sym(Sym::LBracket) {
            let mut list = Vec::new();
            loop {
                list.push(self.check()?);
                if self.eat_sym(Sym::Comma) {
                    continue;
                }
                self.expect_sym(Sym::RBracket, "`,` or `]`")?;
                return Ok(Values::List(list));
            }
        }
        let (members, expected_pool) = match self.word() {
            Some("hosts") => {
                self.bump();
                self.expect_word("in", "`in`")?;
                let expected = if self.eat_word("resource") { "`pool`" } else { "`resource` or `pool`" };
                (PoolMembers::Hosts, expected)
            }
            Some("services") | Some("traps") => {
                let members = if self.word() == Some("services") { PoolMembers::Services } else { PoolMembers::Traps };
                self.bump();
                self.expect_word("in", "`in`")?;
                (members, "`pool`")
            }
            Some("service") | Some("trap") => {
                let service = self.word() == Some("service");
                self.bump();
                let name = self.name()?;
                self.expect_word("on", "`on`")?;
                self.expect_word("hosts", "`hosts`")?;
                self.expect_word("in", "`in`")?;
                (if service { PoolMembers::Service(name) } else { PoolMembers::Trap(name) }, "`pool`")
            }
            _ => return Err(self.unexpected(EXPECT_VALUES)),
        };
        self.expect_word("pool", expected_pool)?;
        let pool = self.name()?;
        Ok(Values::Pool(Located { value: PoolRef { members, pool }, offset }))
    }

    /// Every function but `case` (which holds expressions, not values).
    fn function(&mut self) -> Result<Function<Values>> {
        let Some(word) = self.word() else {
            return Err(self.unexpected(EXPECT_PRIMARY));
        };
        if let Some(n) = number_word(word) {
            self.bump();
            let quantity = if self.eat_word("or") {
                if self.eat_word("more") {
                    Quantity::OrMore
                } else {
                    self.expect_word("less", "`more` or `less`")?;
                    Quantity::OrLess
                }
            } else {
                Quantity::Exactly
            };
            let values = self.of_values()?;
            let otherwise = self.as_status(Status::Critical)?;
            return Ok(Function::Number { n, quantity, values, otherwise });
        }
        match word {
            "all" | "any" => {
                let all = word == "all";
                self.bump();
                let v = self.of_values()?;
                Ok(if all { Function::All(v) } else { Function::Any(v) })
            }
            "majority" | "quorum" => {
                self.bump();
                let values = self.of_values()?;
                let (partial, failed) = if self.eat_word("as") {
                    let partial = self.status()?;
                    self.expect_sym(Sym::Comma, "`,` and a second status")?;
                    (partial, self.status()?)
                } else {
                    (Status::Warning, Status::Critical)
                };
                Ok(Function::Majority { values, partial, failed })
            }
            "count" => {
                self.bump();
                let status = match self.word().map(str::parse::<Status>) {
                    Some(Ok(s)) => {
                        self.bump();
                        Some(s)
                    }
                    _ => None,
                };
                let values = self.of_values()?;
                self.eat_word("is");
                let op = self.cmp_op()?;
                let n = match self.peek().tok {
                    Tok::Number(n) => n,
                    _ => return Err(self.unexpected("a number")),
                };
                self.bump();
                let otherwise = self.as_status(Status::Critical)?;
                Ok(Function::Count { status, values, op, n, otherwise })
            }
            _ => Err(self.unexpected(EXPECT_PRIMARY)),
        }
    }

    /// `case (when EXPR is S then S)+ [else S] end`; an omitted `else` is UNKNOWN.
    fn case(&mut self) -> Result<Condition> {
        self.enter()?;
        self.bump();
        let r = self.case_arms();
        self.depth -= 1;
        r
    }

    fn case_arms(&mut self) -> Result<Condition> {
        let mut arms = Vec::new();
        self.expect_word("when", "`when`")?;
        loop {
            let when = self.expr()?;
            self.expect_word("is", "`is`")?;
            let is = self.status()?;
            self.expect_word("then", "`then`")?;
            let then = self.status()?;
            arms.push(CaseArm { when, is, then });
            if !self.eat_word("when") {
                break;
            }
        }
        if self.eat_word("else") {
            let otherwise = self.status()?;
            self.expect_word("end", "`end`")?;
            return Ok(Expr::Case { arms, otherwise });
        }
        self.expect_word("end", "`when`, `else` or `end`")?;
        let otherwise = Status::Unknown;
        Ok(Expr::Case { arms, otherwise })
    }

    fn of_values(&mut self) -> Result<Values> {
        self.eat_word("of");
        self.values()
    }

    fn as_status(&mut self, default: Status) -> Result<Status> {
        if self.eat_word("as") { self.status() } else { Ok(default) }
    }

    fn status(&mut self) -> Result<Status> {
        match self.word().map(str::parse::<Status>) {
            Some(Ok(s)) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.unexpected(EXPECT_STATUS)),
        }
    }

    fn cmp_op(&mut self) -> Result<CmpOp> {
        let op = match &self.peek().tok {
            Tok::Sym(Sym::EqEq) => CmpOp::Eq,
            Tok::Sym(Sym::Ne) => CmpOp::Ne,
            Tok::Sym(Sym::Lt) => CmpOp::Lt,
            Tok::Sym(Sym::Le) => CmpOp::Le,
            Tok::Sym(Sym::Gt) => CmpOp::Gt,
            Tok::Sym(Sym::Ge) => CmpOp::Ge,
            Tok::Word(w) => match w.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "lt" => CmpOp::Lt,
                "lteq" => CmpOp::Le,
                "gt" => CmpOp::Gt,
                "gteq" => CmpOp::Ge,
                _ => return Err(self.unexpected(EXPECT_OP)),
            },
            _ => return Err(self.unexpected(EXPECT_OP)),
        };
        self.bump();
        Ok(op)
    }

    // ---- tokens ------------------------------------------------------------------

    fn enter(&mut self) -> Result<()> {
        if self.depth >= MAX_DEPTH {
            return Err(ConditionError::new(self.peek().start, ErrorKind::TooDeep));
        }
        self.depth += 1;
        Ok(())
    }

    fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&END)
    }

    fn bump(&mut self) {
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
    }

    fn word(&self) -> Option<&str> {
        match &self.peek().tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let hit = self.word() == Some(w);
        if hit {
            self.bump();
        }
        hit
    }

    fn expect_word(&mut self, w: &str, expected: &'static str) -> Result<()> {
        if self.eat_word(w) { Ok(()) } else { Err(self.unexpected(expected)) }
    }

    fn eat_sym(&mut self, s: Sym) -> bool {
        let hit = self.peek().tok == Tok::Sym(s);
        if hit {
            self.bump();
        }
        hit
    }

    fn expect_sym(&mut self, s: Sym, expected: &'static str) -> Result<()> {
        if self.eat_sym(s) { Ok(()) } else { Err(self.unexpected(expected)) }
    }

    fn name(&mut self) -> Result<String> {
        let t = self.peek();
        match &t.tok {
            Tok::Name(n) if n.is_empty() => Err(ConditionError::new(t.start, ErrorKind::EmptyName)),
            Tok::Name(n) => {
                let n = n.clone();
                self.bump();
                Ok(n)
            }
            _ => Err(self.unexpected(EXPECT_NAME)),
        }
    }

    /// The error for the current token; a lexer error there takes precedence, since
    /// "expected X, found <garbage>" would hide what is wrong with the garbage.
    fn unexpected(&self, expected: &'static str) -> ConditionError {
        let t = self.peek();
        let kind = match &t.tok {
            Tok::Bad(kind) => kind.clone(),
            Tok::Eof => ErrorKind::Unexpected { expected, found: "end of input".into() },
            _ => {
                let text = self.src.get(t.start..t.end).unwrap_or("");
                ErrorKind::Unexpected { expected, found: format!("`{}`", shorten(text)) }
            }
        };
        ConditionError::new(t.start, kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text`, checks its canonical form, and that the canonical form parses
    /// to an equal tree and is its own canonical form.
    fn check(text: &str, canonical: &str) {
        let c = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(c.to_string(), canonical, "{text:?}");
        let again = parse(canonical).unwrap_or_else(|e| panic!("{canonical:?}: {e}"));
        assert_eq!(again, c, "{canonical:?}");
        assert_eq!(again.to_string(), canonical);
    }

    #[test]
    fn checks_and_names() {
        let cases = [
            ("host 'a'", "host 'a'"),
            ("HOST 'Web1.Local'", "host 'Web1.Local'"),
            ("service 's' on host 'h'", "service 's' on host 'h'"),
            ("service 's' on 'h'", "service 's' on host 'h'"),
            ("trap 't' on host 'h'", "trap 't' on host 'h'"),
            ("Trap 't' ON 'h'", "trap 't' on host 'h'"),
            ("cluster 'c'", "cluster 'c'"),
            ("resource 'r' on cluster 'c'", "resource 'r' on cluster 'c'"),
            ("resource 'r' on 'c'", "resource 'r' on cluster 'c'"),
            ("host 'it''s'", "host 'it''s'"),
            ("host ''''", "host ''''"),
            ("host 'back\\slash'", "host 'back\\slash'"),
            ("host 'with space and ü'", "host 'with space and ü'"),
            ("host 'and'", "host 'and'"),
            ("  \n\thost\t'a'  \r\n", "host 'a'"),
            ("((host 'a'))", "host 'a'"),
        ];
        for (text, canonical) in cases {
            check(text, canonical);
        }
        let Expr::Check(c) = parse("service 'x''y' on 'h'").unwrap() else { panic!() };
        assert_eq!(c.value, CheckRef { kind: CheckKind::Service, name: "x'y".into(), on: Some("h".into()) });
    }

    #[test]
    fn operators_every_spelling() {
        let cases = [
            ("host 'a' and host 'b'", "host 'a' and host 'b'"),
            ("host 'a' AND host 'b'", "host 'a' and host 'b'"),
            ("host 'a' && host 'b'", "host 'a' and host 'b'"),
            ("host 'a'&host 'b'", "host 'a' and host 'b'"),
            ("host 'a' or host 'b'", "host 'a' or host 'b'"),
            ("host 'a' Or host 'b'", "host 'a' or host 'b'"),
            ("host 'a' || host 'b'", "host 'a' or host 'b'"),
            ("host 'a'|host 'b'", "host 'a' or host 'b'"),
            ("host 'a' xor host 'b'", "host 'a' xor host 'b'"),
            ("host 'a' XOR host 'b'", "host 'a' xor host 'b'"),
            ("host 'a'^host 'b'", "host 'a' xor host 'b'"),
            ("not host 'a'", "not host 'a'"),
            ("NOT host 'a'", "not host 'a'"),
            ("!host 'a'", "not host 'a'"),
            ("!!host 'a'", "not not host 'a'"),
            ("! ! host 'a'", "not not host 'a'"),
        ];
        for (text, canonical) in cases {
            check(text, canonical);
        }
    }

    #[test]
    fn precedence_and_grouping() {
        let cases = [
            ("host 'a' or host 'b' and host 'c'", "host 'a' or host 'b' and host 'c'"),
            ("host 'a' and host 'b' or host 'c'", "host 'a' and host 'b' or host 'c'"),
            ("(host 'a' or host 'b') and host 'c'", "(host 'a' or host 'b') and host 'c'"),
            ("not host 'a' and host 'b'", "not host 'a' and host 'b'"),
            ("not (host 'a' and host 'b')", "not (host 'a' and host 'b')"),
            ("host 'a' xor host 'b' or host 'c'", "host 'a' xor host 'b' or host 'c'"),
            ("(host 'a' xor host 'b') or host 'c'", "(host 'a' xor host 'b') or host 'c'"),
            ("host 'a' or host 'b' or host 'c'", "host 'a' or host 'b' or host 'c'"),
            ("(host 'a' or host 'b') or host 'c'", "(host 'a' or host 'b') or host 'c'"),
            ("host 'a' or (host 'b' and host 'c')", "host 'a' or host 'b' and host 'c'"),
            ("host 'a' ^ host 'b' | host 'c' & !host 'd'", "host 'a' xor host 'b' or host 'c' and not host 'd'"),
        ];
        for (text, canonical) in cases {
            check(text, canonical);
        }
        // The trees, not just the text: `or` binds looser than `and`, `not` tighter.
        let Expr::Or(xs) = parse("host 'a' or host 'b' and host 'c'").unwrap() else { panic!() };
        assert!(matches!(xs.as_slice(), [Expr::Check(_), Expr::And(ys)] if ys.len() == 2));
        let Expr::And(xs) = parse("not host 'a' and host 'b'").unwrap() else { panic!() };
        assert!(matches!(xs.as_slice(), [Expr::Not(_), Expr::Check(_)]));
        let Expr::Xor(xs) = parse("host 'a' xor host 'b' or host 'c' xor host 'd'").unwrap() else { panic!() };
        assert!(matches!(xs.as_slice(), [Expr::Check(_), Expr::Or(_), Expr::Check(_)]));
    }

    #[test]
    fn values_and_pools() {
        let cases = [
            ("all of [host 'a']", "all of [host 'a']"),
            (
                "all [host 'a' , cluster 'c',resource 'r' on 'c']",
                "all of [host 'a', cluster 'c', resource 'r' on cluster 'c']",
            ),
            (
                "any of [service 's' on 'h', trap 't' on host 'h']",
                "any of [service 's' on host 'h', trap 't' on host 'h']",
            ),
            ("all of hosts in pool 'p'", "all of hosts in pool 'p'"),
            ("all of hosts in resource pool 'p'", "all of hosts in pool 'p'"),
            ("ALL OF HOSTS IN RESOURCE POOL 'p'", "all of hosts in pool 'p'"),
            ("any services in pool 'p'", "any of services in pool 'p'"),
            ("any of traps in pool 'p'", "any of traps in pool 'p'"),
            ("all of service 's' on hosts in pool 'p'", "all of service 's' on hosts in pool 'p'"),
            ("all of trap 't' on hosts in pool 'p'", "all of trap 't' on hosts in pool 'p'"),
        ];
        for (text, canonical) in cases {
            check(text, canonical);
        }
        let Expr::Function(Function::All(Values::Pool(p))) =
            parse("all of service 's' on hosts in pool 'web'").unwrap()
        else {
            panic!()
        };
        assert_eq!(p.value, PoolRef { members: PoolMembers::Service("s".into()), pool: "web".into() });
        assert_eq!(p.offset, 7);
    }

    #[test]
    fn functions_every_form() {
        let v = "[host 'a', host 'b']";
        let cases = [
            ("one of [host 'a', host 'b']".to_string(), format!("one of {v} as CRITICAL")),
            (format!("two {v}"), format!("two of {v} as CRITICAL")),
            (format!("three or more of {v}"), format!("three or more of {v} as CRITICAL")),
            (format!("Four Or Less {v} As warning"), format!("four or less of {v} as WARNING")),
            (format!("five of {v} as info"), format!("five of {v} as INFO")),
            (format!("six {v}"), format!("six of {v} as CRITICAL")),
            (format!("seven {v}"), format!("seven of {v} as CRITICAL")),
            (format!("eight {v}"), format!("eight of {v} as CRITICAL")),
            (format!("nine or more {v} as action"), format!("nine or more of {v} as ACTION")),
            (format!("majority of {v}"), format!("majority of {v} as WARNING, CRITICAL")),
            (format!("quorum {v}"), format!("majority of {v} as WARNING, CRITICAL")),
            (format!("majority {v} as info,unknown"), format!("majority of {v} as INFO, UNKNOWN")),
            (format!("count of {v} == 1"), format!("count of {v} == 1 as CRITICAL")),
            (format!("count {v} is >= 2 as warning"), format!("count of {v} >= 2 as WARNING")),
            (format!("count critical of {v} is != 0"), format!("count CRITICAL of {v} != 0 as CRITICAL")),
            (format!("count OK {v} < 3"), format!("count OK of {v} < 3 as CRITICAL")),
            (format!("count of {v} <= 3"), format!("count of {v} <= 3 as CRITICAL")),
            (format!("count of {v} > 3"), format!("count of {v} > 3 as CRITICAL")),
            (format!("count of {v} eq 3"), format!("count of {v} == 3 as CRITICAL")),
            (format!("count of {v} is ne 3"), format!("count of {v} != 3 as CRITICAL")),
            (format!("count of {v} lt 3"), format!("count of {v} < 3 as CRITICAL")),
            (format!("count of {v} LTEQ 3"), format!("count of {v} <= 3 as CRITICAL")),
            (format!("count of {v} gt 3"), format!("count of {v} > 3 as CRITICAL")),
            (format!("count of {v} gteq 4294967295"), format!("count of {v} >= 4294967295 as CRITICAL")),
            (format!("count of {v} >=0"), format!("count of {v} >= 0 as CRITICAL")),
            (
                "count pending of traps in pool 'p' is eq 0".into(),
                "count PENDING of traps in pool 'p' == 0 as CRITICAL".into(),
            ),
        ];
        for (text, canonical) in &cases {
            check(text, canonical);
        }
    }

    #[test]
    fn case_forms() {
        let cases = [
            ("case when host 'a' is ok then warning end", "case when host 'a' is OK then WARNING else UNKNOWN end"),
            (
                "CASE WHEN host 'a' IS OK THEN OK WHEN host 'b' or host 'c' IS critical THEN warning ELSE info END",
                "case when host 'a' is OK then OK when host 'b' or host 'c' is CRITICAL then WARNING else INFO end",
            ),
            (
                "case when count of [host 'a'] is >= 1 is OK then OK end",
                "case when count of [host 'a'] >= 1 as CRITICAL is OK then OK else UNKNOWN end",
            ),
            (
                "case when case when host 'a' is OK then OK end is OK then OK end and host 'b'",
                "case when case when host 'a' is OK then OK else UNKNOWN end is OK then OK else UNKNOWN end and host 'b'",
            ),
        ];
        for (text, canonical) in cases {
            check(text, canonical);
        }
    }

    #[test]
    fn the_guides_examples() {
        check("host 'pgsql1.local' or host 'pgsql2.local'", "host 'pgsql1.local' or host 'pgsql2.local'");
        let resource =
            "service 'listener-pgsql' on host 'pgsql1.local' or service 'listener-pgsql' on host 'pgsql2.local'";
        check(resource, resource);
    }

    #[test]
    fn errors_with_offsets() {
        let found = |expected: &'static str, found: &str| ErrorKind::Unexpected { expected, found: found.into() };
        let cases: Vec<(&str, usize, ErrorKind)> = vec![
            ("", 0, found(EXPECT_PRIMARY, "end of input")),
            ("   ", 3, found(EXPECT_PRIMARY, "end of input")),
            ("hosts", 0, found(EXPECT_PRIMARY, "`hosts`")),
            ("'a'", 0, found(EXPECT_PRIMARY, "`'a'`")),
            ("host", 4, found(EXPECT_NAME, "end of input")),
            ("host a", 5, found(EXPECT_NAME, "`a`")),
            ("host ''", 5, ErrorKind::EmptyName),
            ("host 'a", 5, ErrorKind::UnterminatedName),
            ("host 'a' = host 'b'", 9, ErrorKind::UnexpectedChar('=')),
            ("host 'a' host 'b'", 9, found("`and`, `or`, `xor` or the end of the condition", "`host`")),
            ("host 'a')", 8, found("`and`, `or`, `xor` or the end of the condition", "`)`")),
            ("host 'a' and", 12, found(EXPECT_PRIMARY, "end of input")),
            ("host 'a' or or host 'b'", 12, found(EXPECT_PRIMARY, "`or`")),
            ("(host 'a'", 9, found("`)`", "end of input")),
            ("not", 3, found(EXPECT_PRIMARY, "end of input")),
            ("service 's' 'h'", 12, found("`on`", "`'h'`")),
            ("service 's' on host", 19, found(EXPECT_NAME, "end of input")),
            ("resource 'r' on host 'c'", 16, found(EXPECT_NAME, "`host`")),
            ("all of", 6, found(EXPECT_VALUES, "end of input")),
            ("all of []", 8, found(EXPECT_CHECK, "`]`")),
            ("all of [host 'a',]", 17, found(EXPECT_CHECK, "`]`")),
            ("all of [host 'a' host 'b']", 17, found("`,` or `]`", "`host`")),
            ("all of [(host 'a')]", 8, found(EXPECT_CHECK, "`(`")),
            ("all of hosts pool 'p'", 13, found("`in`", "`pool`")),
            ("all of hosts in 'p'", 16, found("`resource` or `pool`", "`'p'`")),
            ("all of hosts in resource 'p'", 25, found("`pool`", "`'p'`")),
            ("all of services in pool", 23, found(EXPECT_NAME, "end of input")),
            ("all of service 's' on host 'h'", 22, found("`hosts`", "`host`")),
            ("all of host 'h'", 7, found(EXPECT_VALUES, "`host`")),
            ("ten of [host 'a']", 0, found(EXPECT_PRIMARY, "`ten`")),
            ("one or [host 'a']", 7, found("`more` or `less`", "`[`")),
            ("one of [host 'a'] as", 20, found(EXPECT_STATUS, "end of input")),
            ("one of [host 'a'] as bad", 21, found(EXPECT_STATUS, "`bad`")),
            ("majority of [host 'a'] as warning", 33, found("`,` and a second status", "end of input")),
            ("majority of [host 'a'] as warning,", 34, found(EXPECT_STATUS, "end of input")),
            ("count of [host 'a'] 2", 20, found(EXPECT_OP, "`2`")),
            ("count of [host 'a'] is", 22, found(EXPECT_OP, "end of input")),
            ("count of [host 'a'] = 2", 20, ErrorKind::UnexpectedChar('=')),
            ("count of [host 'a'] is equals 2", 23, found(EXPECT_OP, "`equals`")),
            ("count of [host 'a'] >= two", 23, found("a number", "`two`")),
            ("count of [host 'a'] >= 4294967296", 23, ErrorKind::NumberTooLarge("4294967296".into())),
            ("count fine of [host 'a'] >= 1", 6, found(EXPECT_VALUES, "`fine`")),
            ("case end", 5, found("`when`", "`end`")),
            ("case when host 'a' then OK end", 19, found("`is`", "`then`")),
            ("case when host 'a' is OK OK end", 25, found("`then`", "`OK`")),
            ("case when host 'a' is OK then OK", 32, found("`when`, `else` or `end`", "end of input")),
            ("case when host 'a' is OK then OK else", 37, found(EXPECT_STATUS, "end of input")),
            ("case when host 'a' is OK then OK else OK when", 41, found("`end`", "`when`")),
            ("host 'a' or host 'b' and $", 25, ErrorKind::UnexpectedChar('$')),
            // A grammar error before a lexer error wins: it comes first.
            ("host host $", 5, found(EXPECT_NAME, "`host`")),
            ("host 'ü' é", 10, ErrorKind::UnexpectedChar('é')),
        ];
        for (text, offset, kind) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!((err.offset, &err.kind), (offset, &kind), "{text:?}: {err}");
        }
        let long = format!("host 'a' {}", "x".repeat(100));
        let err = parse(&long).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("expected `and`, `or`, `xor` or the end of the condition, found `{}…` (at byte 9)", "x".repeat(40))
        );
    }

    #[test]
    fn nesting_is_limited() {
        let nested = |n: usize| format!("{}host 'a'{}", "(".repeat(n), ")".repeat(n));
        // The top level is one level, so 63 parentheses fit.
        check(&nested(MAX_DEPTH - 1), "host 'a'");
        let err = parse(&nested(MAX_DEPTH)).unwrap_err();
        assert_eq!((err.offset, err.kind), (MAX_DEPTH - 1, ErrorKind::TooDeep));

        assert!(parse(&format!("{}host 'a'", "not ".repeat(MAX_DEPTH - 1))).is_ok());
        let err = parse(&format!("{}host 'a'", "!".repeat(MAX_DEPTH))).unwrap_err();
        assert_eq!((err.offset, err.kind), (MAX_DEPTH - 1, ErrorKind::TooDeep));

        let cases = "case when ".repeat(40);
        let err = parse(&format!("{cases}host 'a'")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooDeep);

        // Hostile sizes: refused quickly, no stack overflow.
        for text in [nested(100_000), "!".repeat(100_000), "case when ".repeat(50_000), "(!".repeat(50_000)] {
            assert_eq!(parse(&text).unwrap_err().kind, ErrorKind::TooDeep);
        }
        // Long flat chains are not nesting.
        let chain = vec!["host 'a'"; 10_000].join(" or ");
        let c = parse(&chain).unwrap();
        assert!(matches!(&c, Expr::Or(xs) if xs.len() == 10_000));
        assert_eq!(parse(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn references_carry_offsets() {
        let text = "host 'a' or all of [cluster 'c', service 's' on 'h'] and any of traps in pool 'p'";
        let got: Vec<(String, usize)> = parse(text)
            .unwrap()
            .references()
            .map(|r| match r {
                super::super::Reference::Check(c) => (c.to_string(), c.offset),
                super::super::Reference::Pool(p) => (p.to_string(), p.offset),
            })
            .collect();
        let want = [("host 'a'", 0), ("cluster 'c'", 20), ("service 's' on host 'h'", 33), ("traps in pool 'p'", 64)];
        assert_eq!(got, want.map(|(t, o)| (t.to_string(), o)));
    }
}
