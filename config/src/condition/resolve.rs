//! Binds a parsed condition to the model: every check reference becomes a member id.
//!
//! The model is behind the [`Resolver`] trait so this module knows nothing of how
//! hosts and pools are stored, and tests can use a table.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

use super::ast::{CaseArm, CheckRef, Condition, Expr, Located, PoolRef, Values};

/// What a condition's references mean in the model.
pub trait Resolver {
    /// A check's identity in the model.
    type Id: Copy + Eq + Hash + Debug;

    /// The check a reference names, or `None` when there is no such check.
    fn check(&self, r: &CheckRef) -> Option<Self::Id>;

    /// The checks a pool selector selects; empty when no host is in the pool (not an
    /// error: pools are only named by hosts' `resource-pool` attribute).
    fn pool(&self, p: &PoolRef) -> Vec<Self::Id>;
}

/// A reference to a check that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no such check: `{check}` (at byte {offset})")]
pub struct UnresolvedRef {
    pub check: CheckRef,
    /// Byte offset of the reference in the condition text.
    pub offset: usize,
}

impl UnresolvedRef {
    /// The reference as canonical text, `service 'load' on host 'web1'`.
    pub fn text(&self) -> String {
        self.check.to_string()
    }
}

/// A resolved tree: leaves are indices into [`Resolved::members`]; each function's
/// values are distinct indices in the order written.
pub type ResolvedExpr = Expr<usize, Vec<usize>>;

/// A condition bound to the model, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<Id> {
    pub(super) expr: ResolvedExpr,
    pub(super) members: Vec<Id>,
    empty_pools: Vec<Located<PoolRef>>,
}

impl<Id> Resolved<Id> {
    /// Every distinct member, in order of first reference: the checks whose change
    /// must trigger a re-evaluation.
    pub fn members(&self) -> &[Id] {
        &self.members
    }

    /// Pool selectors that selected nothing, for a validation warning.
    pub fn empty_pools(&self) -> &[Located<PoolRef>] {
        &self.empty_pools
    }

    /// The tree, with member indices as leaves.
    pub fn expr(&self) -> &ResolvedExpr {
        &self.expr
    }
}

/// Looks up every reference of `c`. Fails with every reference to a missing check,
/// in the order written; empty pools are only recorded.
pub fn resolve<R: Resolver>(c: &Condition, r: &R) -> Result<Resolved<R::Id>, Vec<UnresolvedRef>> {
    let mut cx = Cx { resolver: r, members: Vec::new(), index: HashMap::new(), missing: Vec::new(), empty: Vec::new() };
    let expr = cx.expr(c);
    if !cx.missing.is_empty() {
        return Err(cx.missing);
    }
    Ok(Resolved { expr, members: cx.members, empty_pools: cx.empty })
}

struct Cx<'r, R: Resolver> {
    resolver: &'r R,
    members: Vec<R::Id>,
    index: HashMap<R::Id, usize>,
    missing: Vec<UnresolvedRef>,
    empty: Vec<Located<PoolRef>>,
}

impl<R: Resolver> Cx<'_, R> {
    /// Recursion is as deep as the tree, which `parse` bounds.
    fn expr(&mut self, e: &Condition) -> ResolvedExpr {
        match e {
            Expr::Check(c) => Expr::Check(self.check(c)),
            Expr::Not(x) => Expr::Not(Box::new(self.expr(x))),
            Expr::And(xs) => Expr::And(xs.iter().map(|x| self.expr(x)).collect()),
            Expr::Or(xs) => Expr::Or(xs.iter().map(|x| self.expr(x)).collect()),
            Expr::Xor(xs) => Expr::Xor(xs.iter().map(|x| self.expr(x)).collect()),
            Expr::Function(f) => {
                let values = self.values(f.values());
                Expr::Function(f.with_values(values))
            }
            Expr::Case { arms, otherwise } => Expr::Case {
                arms: arms.iter().map(|a| CaseArm { when: self.expr(&a.when), is: a.is, then: a.then }).collect(),
                otherwise: *otherwise,
            },
        }
    }

    /// The member index of a check; a missing check is recorded and gets index 0,
    /// which is never used because `resolve` then returns the errors instead.
    fn check(&mut self, c: &Located<CheckRef>) -> usize {
        match self.resolver.check(&c.value) {
            Some(id) => self.intern(id),
            None => {
                self.missing.push(UnresolvedRef { check: c.value.clone(), offset: c.offset });
                0
            }
        }
    }

    fn values(&mut self, v: &Values) -> Vec<usize> {
        let mut out = Vec::new();
        let mut push = |i: usize| {
            if !out.contains(&i) {
                out.push(i);
            }
        };
        match v {
            Values::List(cs) => {
                for c in cs {
                    let before = self.missing.len();
                    let i = self.check(c);
                    if self.missing.len() == before {
                        push(i);
                    }
                }
            }
            Values::Pool(p) => {
                let ids = self.resolver.pool(&p.value);
                if ids.is_empty() {
                    self.empty.push(p.clone());
                }
                for id in ids {
                    push(self.intern(id));
                }
            }
        }
        out
    }

    fn intern(&mut self, id: R::Id) -> usize {
        *self.index.entry(id).or_insert_with(|| {
            self.members.push(id);
            self.members.len() - 1
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::Reference;
    use super::super::parse;
    use super::*;

    /// Checks by canonical text; pools by name.
    struct Site {
        checks: Vec<&'static str>,
        pools: Vec<(&'static str, Vec<u32>)>,
    }

    impl Resolver for Site {
        type Id = u32;

        fn check(&self, r: &CheckRef) -> Option<u32> {
            let text = r.to_string();
            self.checks.iter().position(|c| *c == text).and_then(|i| u32::try_from(i).ok())
        }

        fn pool(&self, p: &PoolRef) -> Vec<u32> {
            self.pools.iter().find(|(n, _)| *n == p.pool).map(|(_, ids)| ids.clone()).unwrap_or_default()
        }
    }

    fn site() -> Site {
        Site {
            checks: vec![
                "host 'a'",
                "host 'b'",
                "service 's' on host 'a'",
                "cluster 'c'",
                "resource 'r' on cluster 'c'",
            ],
            pools: vec![("web", vec![10, 11, 1]), ("empty", vec![])],
        }
    }

    #[test]
    fn members_are_distinct_in_first_reference_order() {
        let cases: &[(&str, &[u32])] = &[
            ("host 'b'", &[1]),
            ("host 'b' or host 'a' and host 'b'", &[1, 0]),
            ("service 's' on 'a' xor resource 'r' on 'c'", &[2, 4]),
            ("all of [host 'a', host 'a', cluster 'c']", &[0, 3]),
            ("not host 'b' and any of hosts in pool 'web'", &[1, 10, 11]),
            (
                "case when host 'a' is OK then OK when any of services in pool 'web' is WARNING then OK end",
                &[0, 10, 11, 1],
            ),
            ("count of service 'x' on hosts in pool 'empty' > 0 or host 'a'", &[0]),
        ];
        for (text, want) in cases {
            let c = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let r = resolve(&c, &site()).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(r.members(), *want, "{text}");
        }
    }

    #[test]
    fn values_are_deduplicated_per_function() {
        let c = parse("two of [host 'a', host 'b', host 'a'] and all of hosts in pool 'web'").unwrap();
        let r = resolve(&c, &site()).unwrap();
        let Expr::And(xs) = r.expr() else { panic!("{:?}", r.expr()) };
        let values: Vec<&Vec<usize>> = xs
            .iter()
            .map(|x| match x {
                Expr::Function(f) => f.values(),
                other => panic!("{other:?}"),
            })
            .collect();
        // host 'b' is member 1, and pool 'web' holds it again: still one member.
        assert_eq!(values, [&vec![0, 1], &vec![2, 3, 1]]);
        assert_eq!(r.members(), [0, 1, 10, 11]);
    }

    #[test]
    fn every_missing_reference_is_reported_with_its_offset() {
        let text = "host 'a' or host 'nope' and all of [cluster 'c', service 'x' on host 'a'] or resource 'r' on 'd'";
        let c = parse(text).unwrap();
        let errs = resolve(&c, &site()).unwrap_err();
        let got: Vec<(String, usize)> = errs.iter().map(|e| (e.text(), e.offset)).collect();
        assert_eq!(
            got,
            [
                ("host 'nope'".to_string(), 12),
                ("service 'x' on host 'a'".to_string(), 49),
                ("resource 'r' on cluster 'd'".to_string(), 77),
            ]
        );
        for (e, (t, at)) in errs.iter().zip(&got) {
            assert!(text[*at..].starts_with(t.split(' ').next().unwrap_or("")), "{e}");
        }
        assert_eq!(errs[0].to_string(), "no such check: `host 'nope'` (at byte 12)");
    }

    #[test]
    fn empty_pools_are_recorded_not_errors() {
        let c = parse("any of hosts in pool 'empty' or one of traps in pool 'nowhere' or all of hosts in pool 'web'")
            .unwrap();
        let r = resolve(&c, &site()).unwrap();
        let empty: Vec<(String, usize)> = r.empty_pools().iter().map(|p| (p.to_string(), p.offset)).collect();
        assert_eq!(empty, [("hosts in pool 'empty'".to_string(), 7), ("traps in pool 'nowhere'".to_string(), 39)]);
        assert_eq!(r.members(), [10, 11, 1]);
    }

    #[test]
    fn references_match_what_resolution_looks_up() {
        let c = parse("host 'a' or all of services in pool 'web'").unwrap();
        let refs: Vec<_> = c.references().collect();
        assert!(
            matches!(refs.as_slice(), [Reference::Check(h), Reference::Pool(p)] if h.offset == 0 && p.offset == 19)
        );
    }
}
