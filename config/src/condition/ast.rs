//! The syntax tree of a condition and its canonical text; no parsing, no model.
//!
//! One generic tree [`Expr<C, V>`] serves both stages: as parsed, leaves are
//! [`CheckRef`]s and [`Values`] ([`Condition`]); once resolved, they are member indices.

use std::fmt;

use crate::status::Status;

/// A value and the byte offset in the condition text where it was written.
///
/// Equality ignores the offset (as identifiers ignore spans in Rust macros): a
/// condition is equal to the re-parse of its canonical text.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub offset: usize,
}

impl<T: PartialEq> PartialEq for Located<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: Eq> Eq for Located<T> {}

impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    Host,
    Service,
    Trap,
    Cluster,
    Resource,
}

impl CheckKind {
    pub fn keyword(self) -> &'static str {
        match self {
            CheckKind::Host => "host",
            CheckKind::Service => "service",
            CheckKind::Trap => "trap",
            CheckKind::Cluster => "cluster",
            CheckKind::Resource => "resource",
        }
    }
}

/// A reference to one check: `host 'h'`, `service 's' on host 'h'`, `trap 't' on host
/// 'h'`, `cluster 'c'`, `resource 'r' on cluster 'c'`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckRef {
    pub kind: CheckKind,
    pub name: String,
    /// The host of a service or trap, the cluster of a resource; `None` for hosts and
    /// clusters (the parser guarantees this pairing).
    pub on: Option<String>,
}

/// Which checks of the hosts in a pool a [`PoolRef`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PoolMembers {
    /// `hosts in [resource] pool 'p'`
    Hosts,
    /// `services in pool 'p'`: every service of every host in the pool.
    Services,
    /// `traps in pool 'p'`
    Traps,
    /// `service 's' on hosts in pool 'p'`
    Service(String),
    /// `trap 't' on hosts in pool 'p'`
    Trap(String),
}

/// A pool selector; pools are named by hosts' `resource-pool` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolRef {
    pub members: PoolMembers,
    pub pool: String,
}

/// The members a function works on, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values {
    /// `[check, …]`: never empty.
    List(Vec<Located<CheckRef>>),
    Pool(Located<PoolRef>),
}

/// How `one`..`nine` compare the number of ok members with N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quantity {
    Exactly,
    OrMore,
    OrLess,
}

/// The comparison of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn holds(self, left: u64, right: u64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// A function over members. Defaults of omitted `as` statuses are filled in by the
/// parser, so the canonical text always spells them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Function<V> {
    /// `all [of] V`: the worst member.
    All(V),
    /// `any [of] V`: the best member.
    Any(V),
    /// `one`..`nine` `[or more|or less] [of] V [as S]`.
    Number { n: u8, quantity: Quantity, values: V, otherwise: Status },
    /// `majority|quorum [of] V [as PARTIAL, FAILED]`.
    Majority { values: V, partial: Status, failed: Status },
    /// `count [S] [of] V [is] OP N [as S]`; `status: None` counts ok members.
    Count { status: Option<Status>, values: V, op: CmpOp, n: u32, otherwise: Status },
}

impl<V> Function<V> {
    pub fn values(&self) -> &V {
        match self {
            Function::All(v) | Function::Any(v) => v,
            Function::Number { values, .. } | Function::Majority { values, .. } | Function::Count { values, .. } => {
                values
            }
        }
    }

    /// The same function over other values (used by resolution).
    pub fn with_values<W>(&self, values: W) -> Function<W> {
        match *self {
            Function::All(_) => Function::All(values),
            Function::Any(_) => Function::Any(values),
            Function::Number { n, quantity, otherwise, .. } => Function::Number { n, quantity, values, otherwise },
            Function::Majority { partial, failed, .. } => Function::Majority { values, partial, failed },
            Function::Count { status, op, n, otherwise, .. } => Function::Count { status, values, op, n, otherwise },
        }
    }
}

/// `when EXPR is IS then THEN` of a `case`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseArm<C, V> {
    pub when: Expr<C, V>,
    pub is: Status,
    pub then: Status,
}

/// A condition tree. `And`, `Or` and `Xor` are n-ary (a chain `a or b or c` is one node
/// with three operands) so long chains do not make a deep tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr<C, V> {
    Check(C),
    Not(Box<Expr<C, V>>),
    /// At least two operands when parsed.
    And(Vec<Expr<C, V>>),
    Or(Vec<Expr<C, V>>),
    Xor(Vec<Expr<C, V>>),
    Function(Function<V>),
    /// At least one arm when parsed.
    Case {
        arms: Vec<CaseArm<C, V>>,
        otherwise: Status,
    },
}

/// A condition as parsed from text.
pub type Condition = Expr<Located<CheckRef>, Values>;

/// One reference of a condition to the model, for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    Check(&'a Located<CheckRef>),
    Pool(&'a Located<PoolRef>),
}

impl Condition {
    /// Every check reference and pool selector, in the order written.
    pub fn references(&self) -> std::vec::IntoIter<Reference<'_>> {
        let mut out = Vec::new();
        collect(self, &mut out);
        out.into_iter()
    }
}

fn collect<'a>(e: &'a Condition, out: &mut Vec<Reference<'a>>) {
    match e {
        Expr::Check(c) => out.push(Reference::Check(c)),
        Expr::Not(x) => collect(x, out),
        Expr::And(xs) | Expr::Or(xs) | Expr::Xor(xs) => xs.iter().for_each(|x| collect(x, out)),
        Expr::Function(f) => match f.values() {
            Values::List(cs) => out.extend(cs.iter().map(Reference::Check)),
            Values::Pool(p) => out.push(Reference::Pool(p)),
        },
        Expr::Case { arms, .. } => arms.iter().for_each(|a| collect(&a.when, out)),
    }
}

// ---- canonical text ----------------------------------------------------------------
// Lower-case keywords, upper-case statuses, word operators, single spaces, every
// default spelled out, and parentheses exactly where the tree needs them.

/// Writes `'name'`, doubling quotes inside.
fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    write!(f, "'{}'", name.replace('\'', "''"))
}

impl fmt::Display for CheckRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.kind.keyword())?;
        write_name(f, &self.name)?;
        if let Some(on) = &self.on {
            let parent = if self.kind == CheckKind::Resource { "cluster" } else { "host" };
            write!(f, " on {parent} ")?;
            write_name(f, on)?;
        }
        Ok(())
    }
}

impl fmt::Display for PoolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.members {
            PoolMembers::Hosts => f.write_str("hosts in pool ")?,
            PoolMembers::Services => f.write_str("services in pool ")?,
            PoolMembers::Traps => f.write_str("traps in pool ")?,
            PoolMembers::Service(s) | PoolMembers::Trap(s) => {
                let kw = if matches!(self.members, PoolMembers::Service(_)) { "service" } else { "trap" };
                write!(f, "{kw} ")?;
                write_name(f, s)?;
                f.write_str(" on hosts in pool ")?;
            }
        }
        write_name(f, &self.pool)
    }
}

impl fmt::Display for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Values::List(cs) => {
                f.write_str("[")?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    c.fmt(f)?;
                }
                f.write_str("]")
            }
            Values::Pool(p) => p.fmt(f),
        }
    }
}

const NUMBER_WORDS: [&str; 9] = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// `one`..`nine` → 1..9.
pub(super) fn number_word(word: &str) -> Option<u8> {
    let i = NUMBER_WORDS.iter().position(|w| *w == word)?;
    // `i` < 9, so it fits a u8.
    u8::try_from(i + 1).ok()
}

impl<V: fmt::Display> fmt::Display for Function<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Function::All(v) => write!(f, "all of {v}"),
            Function::Any(v) => write!(f, "any of {v}"),
            Function::Number { n, quantity, values, otherwise } => {
                let word = NUMBER_WORDS.get(usize::from(*n).wrapping_sub(1)).copied().unwrap_or("?");
                let q = match quantity {
                    Quantity::Exactly => "",
                    Quantity::OrMore => " or more",
                    Quantity::OrLess => " or less",
                };
                write!(f, "{word}{q} of {values} as {otherwise}")
            }
            Function::Majority { values, partial, failed } => {
                write!(f, "majority of {values} as {partial}, {failed}")
            }
            Function::Count { status, values, op, n, otherwise } => {
                f.write_str("count ")?;
                if let Some(s) = status {
                    write!(f, "{s} ")?;
                }
                write!(f, "of {values} {} {n} as {otherwise}", op.symbol())
            }
        }
    }
}

impl<C, V> Expr<C, V> {
    /// Binding strength: xor < or < and < everything else.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Xor(_) => 1,
            Expr::Or(_) => 2,
            Expr::And(_) => 3,
            _ => 4,
        }
    }
}

impl<C: fmt::Display, V: fmt::Display> fmt::Display for Expr<C, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An operand is parenthesised when it binds no tighter than its parent: a
        // nested `or` inside an `or` came from parentheses and must keep them, or it
        // would re-parse as one flat chain.
        let operand = |f: &mut fmt::Formatter<'_>, parent: u8, e: &Expr<C, V>| {
            if e.precedence() <= parent { write!(f, "({e})") } else { write!(f, "{e}") }
        };
        let chain = |f: &mut fmt::Formatter<'_>, op: &str, xs: &[Expr<C, V>]| {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                operand(f, self.precedence(), x)?;
            }
            Ok(())
        };
        match self {
            Expr::Check(c) => c.fmt(f),
            Expr::Not(x) => {
                f.write_str("not ")?;
                operand(f, 3, x)
            }
            Expr::And(xs) => chain(f, "and", xs),
            Expr::Or(xs) => chain(f, "or", xs),
            Expr::Xor(xs) => chain(f, "xor", xs),
            Expr::Function(func) => func.fmt(f),
            Expr::Case { arms, otherwise } => {
                f.write_str("case")?;
                for a in arms {
                    write!(f, " when {} is {} then {}", a.when, a.is, a.then)?;
                }
                write!(f, " else {otherwise} end")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc<T>(value: T) -> Located<T> {
        Located { value, offset: 0 }
    }

    fn host(n: &str) -> Condition {
        Expr::Check(loc(CheckRef { kind: CheckKind::Host, name: n.into(), on: None }))
    }

    #[test]
    fn canonical_text_of_built_trees() {
        let list = Values::List(vec![
            loc(CheckRef { kind: CheckKind::Service, name: "it's".into(), on: Some("h".into()) }),
            loc(CheckRef { kind: CheckKind::Resource, name: "r".into(), on: Some("c".into()) }),
        ]);
        let pool = |members| Values::Pool(loc(PoolRef { members, pool: "p".into() }));
        let cases: Vec<(Condition, &str)> = vec![
            (host("a"), "host 'a'"),
            (Expr::Or(vec![Expr::Or(vec![host("a"), host("b")]), host("c")]), "(host 'a' or host 'b') or host 'c'"),
            (Expr::Or(vec![Expr::And(vec![host("a"), host("b")]), host("c")]), "host 'a' and host 'b' or host 'c'"),
            (Expr::And(vec![Expr::Xor(vec![host("a"), host("b")]), host("c")]), "(host 'a' xor host 'b') and host 'c'"),
            (Expr::Not(Box::new(Expr::And(vec![host("a"), host("b")]))), "not (host 'a' and host 'b')"),
            (Expr::Not(Box::new(Expr::Not(Box::new(host("a"))))), "not not host 'a'"),
            (
                Expr::Function(Function::All(list.clone())),
                "all of [service 'it''s' on host 'h', resource 'r' on cluster 'c']",
            ),
            (Expr::Function(Function::Any(pool(PoolMembers::Hosts))), "any of hosts in pool 'p'"),
            (
                Expr::Function(Function::Number {
                    n: 2,
                    quantity: Quantity::OrLess,
                    values: pool(PoolMembers::Service("s".into())),
                    otherwise: Status::Warning,
                }),
                "two or less of service 's' on hosts in pool 'p' as WARNING",
            ),
            (
                Expr::Function(Function::Majority {
                    values: pool(PoolMembers::Trap("t".into())),
                    partial: Status::Warning,
                    failed: Status::Critical,
                }),
                "majority of trap 't' on hosts in pool 'p' as WARNING, CRITICAL",
            ),
            (
                Expr::Function(Function::Count {
                    status: Some(Status::Critical),
                    values: pool(PoolMembers::Traps),
                    op: CmpOp::Ge,
                    n: 3,
                    otherwise: Status::Unknown,
                }),
                "count CRITICAL of traps in pool 'p' >= 3 as UNKNOWN",
            ),
            (
                Expr::Case {
                    arms: vec![CaseArm {
                        when: Expr::Or(vec![host("a"), host("b")]),
                        is: Status::Ok,
                        then: Status::Info,
                    }],
                    otherwise: Status::Unknown,
                },
                "case when host 'a' or host 'b' is OK then INFO else UNKNOWN end",
            ),
        ];
        for (tree, want) in cases {
            assert_eq!(tree.to_string(), want);
        }
    }

    #[test]
    fn located_equality_ignores_offset() {
        assert_eq!(Located { value: 1, offset: 0 }, Located { value: 1, offset: 9 });
        assert_ne!(Located { value: 1, offset: 0 }, Located { value: 2, offset: 0 });
    }

    #[test]
    fn references_in_written_order() {
        let list = Values::List(vec![loc(CheckRef { kind: CheckKind::Host, name: "l".into(), on: None })]);
        let pool = Values::Pool(loc(PoolRef { members: PoolMembers::Services, pool: "p".into() }));
        let tree: Condition = Expr::Or(vec![
            Expr::Not(Box::new(host("a"))),
            Expr::Function(Function::All(list)),
            Expr::Case {
                arms: vec![CaseArm { when: Expr::Function(Function::Any(pool)), is: Status::Ok, then: Status::Ok }],
                otherwise: Status::Unknown,
            },
        ]);
        let got: Vec<String> = tree
            .references()
            .map(|r| match r {
                Reference::Check(c) => c.to_string(),
                Reference::Pool(p) => p.to_string(),
            })
            .collect();
        assert_eq!(got, ["host 'a'", "host 'l'", "services in pool 'p'"]);
    }

    #[test]
    fn number_words_and_ops() {
        assert_eq!(number_word("one"), Some(1));
        assert_eq!(number_word("nine"), Some(9));
        assert_eq!(number_word("ten"), None);
        let ops = [(CmpOp::Eq, 2, 2, true), (CmpOp::Ne, 2, 2, false), (CmpOp::Lt, 1, 2, true), (CmpOp::Le, 2, 2, true)];
        for (op, l, r, want) in ops {
            assert_eq!(op.holds(l, r), want, "{op:?}");
        }
        assert!(CmpOp::Gt.holds(3, 2) && !CmpOp::Gt.holds(2, 2) && CmpOp::Ge.holds(2, 2) && !CmpOp::Ge.holds(1, 2));
    }
}
