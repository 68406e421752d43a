//! Computes a virtual check's status and hardness from its members' state (SEMANTICS §6).
//!
//! Pure: the members' state comes from a [`StatusLookup`], asked once per member.

use super::ast::{Expr, Function, Quantity};
use super::resolve::{Resolved, ResolvedExpr};
use crate::status::Status;

/// What evaluation needs to know of one member check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub status: Status,
    pub hard: bool,
    pub acknowledged: bool,
    pub suppressed: bool,
    pub in_downtime: bool,
}

impl Member {
    /// A hard member with `status`, not acknowledged, suppressed or in downtime.
    pub fn hard(status: Status) -> Self {
        Member { status, hard: true, acknowledged: false, suppressed: false, in_downtime: false }
    }

    /// The status a condition sees: a problem someone acknowledged, suppressed or
    /// scheduled downtime for counts as OK, so it does not drag the virtual check
    /// down; an ok status (PENDING, INFO, OK) is kept as it is.
    pub fn effective_status(&self) -> Status {
        if !self.status.is_ok() && (self.acknowledged || self.suppressed || self.in_downtime) {
            Status::Ok
        } else {
            self.status
        }
    }
}

/// The current state of members, by id.
pub trait StatusLookup<Id> {
    fn member(&self, id: Id) -> Member;
}

impl<Id, F: Fn(Id) -> Member> StatusLookup<Id> for F {
    fn member(&self, id: Id) -> Member {
        self(id)
    }
}

/// The result of evaluating a virtual check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub status: Status,
    /// True when every member is hard (also when there are no members).
    pub hard: bool,
}

impl<Id: Copy> Resolved<Id> {
    /// Status and hardness of the condition given its members' current state.
    pub fn evaluate(&self, lookup: &impl StatusLookup<Id>) -> Evaluation {
        let members: Vec<Member> = self.members.iter().map(|&id| lookup.member(id)).collect();
        let statuses: Vec<Status> = members.iter().map(Member::effective_status).collect();
        Evaluation { status: eval(&self.expr, &statuses), hard: members.iter().all(|m| m.hard) }
    }
}

/// OK or CRITICAL, for operators that only say yes or no.
fn verdict(ok: bool, otherwise: Status) -> Status {
    if ok { Status::Ok } else { otherwise }
}

/// Recursion is as deep as the tree, which `parse` bounds. Indices come from
/// `resolve`, so they are in range; an out-of-range one (a hand-built tree) reads as
/// UNKNOWN rather than panicking.
fn eval(e: &ResolvedExpr, statuses: &[Status]) -> Status {
    let status = |i: &usize| statuses.get(*i).copied().unwrap_or(Status::Unknown);
    // n-ary nodes from `parse` have at least two operands; PENDING for none keeps
    // hand-built trees total.
    match e {
        Expr::Check(i) => status(i),
        Expr::Not(x) => verdict(!eval(x, statuses).is_ok(), Status::Critical),
        Expr::And(xs) => xs.iter().map(|x| eval(x, statuses)).max().unwrap_or(Status::Pending),
        Expr::Or(xs) => xs.iter().map(|x| eval(x, statuses)).min().unwrap_or(Status::Pending),
        Expr::Xor(xs) => {
            let ok = xs.iter().filter(|x| eval(x, statuses).is_ok()).count();
            verdict(ok % 2 == 1, Status::Critical)
        }
        Expr::Function(f) => function(f, &f.values().iter().map(status).collect::<Vec<_>>()),
        Expr::Case { arms, otherwise } => {
            arms.iter().find(|a| eval(&a.when, statuses) == a.is).map_or(*otherwise, |a| a.then)
        }
    }
}

/// A function over its members' effective statuses.
fn function(f: &Function<Vec<usize>>, values: &[Status]) -> Status {
    let total = values.len();
    let ok = values.iter().filter(|s| s.is_ok()).count();
    match f {
        // No member has reported anything: PENDING, like a check without results.
        Function::All(_) => values.iter().copied().max().unwrap_or(Status::Pending),
        Function::Any(_) => values.iter().copied().min().unwrap_or(Status::Pending),
        Function::Number { n, quantity, otherwise, .. } => {
            let n = usize::from(*n);
            let hit = match quantity {
                Quantity::Exactly => ok == n,
                Quantity::OrMore => ok >= n,
                Quantity::OrLess => ok <= n,
            };
            verdict(hit, *otherwise)
        }
        Function::Majority { partial, failed, .. } => {
            if ok == total {
                Status::Ok
            } else if ok * 2 > total {
                *partial
            } else {
                *failed
            }
        }
        Function::Count { status, op, n, otherwise, .. } => {
            let counted = match status {
                Some(s) => values.iter().filter(|v| *v == s).count(),
                None => ok,
            };
            // usize → u64 is lossless on every supported target.
            verdict(op.holds(counted as u64, u64::from(*n)), *otherwise)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::{CheckRef, PoolRef};
    use super::super::{Resolver, parse, resolve};
    use super::*;

    /// Members named `name` (hosts, clusters) or `on/name` (services, traps,
    /// resources); pool `p` holds every member whose key starts with `p`.
    struct Site(Vec<(String, Member)>);

    impl Resolver for Site {
        type Id = usize;

        fn check(&self, r: &CheckRef) -> Option<usize> {
            let key = match &r.on {
                Some(on) => format!("{on}/{}", r.name),
                None => r.name.clone(),
            };
            self.0.iter().position(|(k, _)| *k == key)
        }

        fn pool(&self, p: &PoolRef) -> Vec<usize> {
            (0..self.0.len()).filter(|&i| self.0[i].0.starts_with(&p.pool)).collect()
        }
    }

    /// `"a=CRITICAL b=OK/ack c=WARNING/soft"`; flags: ack, supp, down, soft.
    fn site(spec: &str) -> Site {
        Site(
            spec.split_whitespace()
                .map(|m| {
                    let (key, rest) = m.split_once('=').unwrap();
                    let mut parts = rest.split('/');
                    let mut member = Member::hard(parts.next().unwrap().parse().unwrap());
                    for flag in parts {
                        match flag {
                            "ack" => member.acknowledged = true,
                            "supp" => member.suppressed = true,
                            "down" => member.in_downtime = true,
                            "soft" => member.hard = false,
                            other => panic!("flag {other}"),
                        }
                    }
                    (key.to_string(), member)
                })
                .collect(),
        )
    }

    fn run(cond: &str, spec: &str) -> Evaluation {
        let c = parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}"));
        let site = site(spec);
        let r = resolve(&c, &site).unwrap_or_else(|e| panic!("{cond}: {e:?}"));
        r.evaluate(&|i: usize| site.0[i].1)
    }

    #[test]
    fn status_table() {
        let abc = "a=OK b=CRITICAL c=CRITICAL";
        let cases: &[(&str, &str, &str)] = &[
            // The guide's cluster: the best of the two hosts.
            ("host 'pgsql1.local' or host 'pgsql2.local'", "pgsql1.local=CRITICAL pgsql2.local=OK", "OK"),
            ("host 'pgsql1.local' or host 'pgsql2.local'", "pgsql1.local=CRITICAL pgsql2.local=WARNING", "WARNING"),
            ("host 'pgsql1.local' or host 'pgsql2.local'", "pgsql1.local=CRITICAL pgsql2.local=UNKNOWN", "CRITICAL"),
            // The guide's resource.
            (
                "service 'listener-pgsql' on host 'pgsql1.local' or service 'listener-pgsql' on host 'pgsql2.local'",
                "pgsql1.local/listener-pgsql=WARNING pgsql2.local/listener-pgsql=CRITICAL",
                "WARNING",
            ),
            // and = worst, or = best, over all ten statuses' order.
            ("host 'a' and host 'b'", "a=OK b=WARNING", "WARNING"),
            ("host 'a' and host 'b'", "a=INFO b=PENDING", "INFO"),
            ("host 'a' && host 'b' & host 'c'", "a=TIMEOUT b=ACTION c=OK", "ACTION"),
            ("host 'a' or host 'b'", "a=ERROR b=DISCONNECTED", "ERROR"),
            ("host 'a' || host 'b' | host 'c'", "a=UNKNOWN b=CRITICAL c=TIMEOUT", "CRITICAL"),
            // not and xor say OK or CRITICAL.
            ("not host 'a'", "a=OK", "CRITICAL"),
            ("!host 'a'", "a=PENDING", "CRITICAL"),
            ("not host 'a'", "a=WARNING", "OK"),
            ("not not host 'a'", "a=WARNING", "CRITICAL"),
            ("host 'a' xor host 'b'", "a=OK b=CRITICAL", "OK"),
            ("host 'a' ^ host 'b'", "a=INFO b=OK", "CRITICAL"),
            ("host 'a' xor host 'b'", "a=WARNING b=CRITICAL", "CRITICAL"),
            // n-ary xor: an odd number of ok operands, the same however grouped.
            ("host 'a' xor host 'b' xor host 'c'", "a=OK b=OK c=OK", "OK"),
            ("(host 'a' xor host 'b') xor host 'c'", "a=OK b=OK c=OK", "OK"),
            ("host 'a' xor host 'b' xor host 'c'", "a=OK b=OK c=CRITICAL", "CRITICAL"),
            // Precedence: each pair below differs only by grouping.
            ("host 'a' or host 'b' and host 'c'", abc, "OK"),
            ("(host 'a' or host 'b') and host 'c'", abc, "CRITICAL"),
            ("not host 'b' and host 'c'", "b=CRITICAL c=WARNING", "WARNING"),
            ("not (host 'b' and host 'c')", "b=CRITICAL c=WARNING", "OK"),
            ("host 'a' xor host 'b' or host 'c'", "a=OK b=CRITICAL c=OK", "CRITICAL"),
            ("(host 'a' xor host 'b') or host 'c'", "a=OK b=CRITICAL c=OK", "OK"),
            // all = worst member, any = best member.
            ("all of [host 'a', host 'b']", "a=OK b=WARNING", "WARNING"),
            ("all [host 'a']", "a=INFO", "INFO"),
            ("any of [host 'a', host 'b']", "a=OK b=WARNING", "OK"),
            ("any of [host 'a', host 'b']", "a=CRITICAL b=WARNING", "WARNING"),
            // N of: exactly / at least / at most N ok, else the `as` status.
            ("one of [host 'a', host 'b']", "a=OK b=CRITICAL", "OK"),
            ("one of [host 'a', host 'b']", "a=OK b=INFO", "CRITICAL"),
            ("two or more of [host 'a', host 'b', host 'c']", "a=OK b=OK c=CRITICAL", "OK"),
            ("three or more [host 'a', host 'b', host 'c'] as WARNING", "a=OK b=OK c=CRITICAL", "WARNING"),
            ("one or less of [host 'a', host 'b']", "a=CRITICAL b=CRITICAL", "OK"),
            ("one or less of [host 'a', host 'b'] as UNKNOWN", "a=OK b=OK", "UNKNOWN"),
            ("nine or more of [host 'a']", "a=OK", "CRITICAL"),
            // majority: all ok → OK, more than half → first, else second.
            ("majority of [host 'a', host 'b', host 'c']", "a=OK b=OK c=OK", "OK"),
            ("majority of [host 'a', host 'b', host 'c']", "a=OK b=OK c=CRITICAL", "WARNING"),
            ("majority of [host 'a', host 'b', host 'c']", "a=OK b=ERROR c=CRITICAL", "CRITICAL"),
            ("quorum of [host 'a', host 'b', host 'c', host 'd']", "a=OK b=OK c=CRITICAL d=CRITICAL", "CRITICAL"),
            ("quorum [host 'a', host 'b', host 'c'] as INFO, UNKNOWN", "a=OK b=OK c=CRITICAL", "INFO"),
            ("quorum [host 'a', host 'b', host 'c'] as INFO, UNKNOWN", "a=OK b=WARNING c=CRITICAL", "UNKNOWN"),
            // count: members with status S (or ok ones) against N.
            ("count critical of [host 'a', host 'b', host 'c'] >= 2", abc, "OK"),
            ("count CRITICAL [host 'a', host 'b', host 'c'] is gt 2", abc, "CRITICAL"),
            ("count of [host 'a', host 'b', host 'c'] == 1", abc, "OK"),
            ("count of [host 'a', host 'b', host 'c'] ne 1 as WARNING", abc, "WARNING"),
            ("count warning of [host 'a', host 'b'] lt 1", "a=OK b=OK", "OK"),
            ("count ok of [host 'a', host 'b'] lteq 0", "a=INFO b=CRITICAL", "OK"),
            // case: the first matching arm, else the else status (default UNKNOWN).
            ("case when host 'a' is OK then INFO when host 'b' is CRITICAL then WARNING end", abc, "INFO"),
            ("case when host 'b' is OK then INFO when host 'c' is CRITICAL then WARNING end", abc, "WARNING"),
            ("case when host 'b' is OK then INFO else ERROR end", abc, "ERROR"),
            ("case when host 'b' is OK then INFO end", abc, "UNKNOWN"),
            ("case when host 'a' or host 'b' is OK then ACTION end", abc, "ACTION"),
            // Pools: the test site's pool 'web' holds every member named web…
            ("all of hosts in pool 'web'", "web1=OK web2=WARNING db=CRITICAL", "WARNING"),
            ("any of hosts in resource pool 'web'", "web1=CRITICAL web2=WARNING db=OK", "WARNING"),
            ("two of service 'http' on hosts in pool 'web'", "web1/http=OK web2/http=OK", "OK"),
            // …and an empty pool: all/any give PENDING, counting counts zero.
            ("all of hosts in pool 'none'", "a=CRITICAL", "PENDING"),
            ("any of traps in pool 'none'", "a=CRITICAL", "PENDING"),
            ("all of hosts in pool 'none' and host 'a'", "a=CRITICAL", "CRITICAL"),
            ("one or less of services in pool 'none'", "", "OK"),
            ("one of services in pool 'none'", "", "CRITICAL"),
            ("majority of services in pool 'none'", "", "OK"),
            ("count of trap 't' on hosts in pool 'none' == 0", "", "OK"),
        ];
        for (cond, spec, want) in cases {
            let got = run(cond, spec).status;
            assert_eq!(got.as_str(), *want, "{cond} with {spec}");
        }
    }

    #[test]
    fn acknowledged_suppressed_and_downtime_count_as_ok() {
        let cases: &[(&str, &str, &str)] = &[
            ("host 'a'", "a=CRITICAL/ack", "OK"),
            ("host 'a'", "a=WARNING/supp", "OK"),
            ("host 'a'", "a=UNKNOWN/down", "OK"),
            ("host 'a'", "a=CRITICAL/soft", "CRITICAL"),
            // An ok status is kept: a pending host in downtime is still pending.
            ("host 'a'", "a=PENDING/down", "PENDING"),
            ("host 'a'", "a=INFO/ack", "INFO"),
            ("all of [host 'a', host 'b']", "a=CRITICAL/ack b=WARNING", "WARNING"),
            ("one of [host 'a', host 'b']", "a=CRITICAL/down b=CRITICAL", "OK"),
            ("not host 'a'", "a=CRITICAL/supp", "CRITICAL"),
            ("count critical of [host 'a', host 'b'] == 1", "a=CRITICAL/ack b=CRITICAL", "OK"),
            ("case when host 'a' is OK then INFO end", "a=ERROR/down", "INFO"),
        ];
        for (cond, spec, want) in cases {
            assert_eq!(run(cond, spec).status.as_str(), *want, "{cond} with {spec}");
        }
    }

    #[test]
    fn hard_when_every_member_is_hard() {
        let cases: &[(&str, &str, bool)] = &[
            ("host 'a' or host 'b'", "a=OK b=CRITICAL", true),
            // b does not decide the status, but it is a member: still soft.
            ("host 'a' or host 'b'", "a=OK b=CRITICAL/soft", false),
            ("all of hosts in pool 'web'", "web1=OK web2=OK/soft", false),
            ("host 'a' and host 'a'", "a=OK", true),
            // No members at all: nothing will change, so hard.
            ("any of hosts in pool 'none'", "a=OK/soft", true),
        ];
        for (cond, spec, want) in cases {
            assert_eq!(run(cond, spec).hard, *want, "{cond} with {spec}");
        }
    }

    #[test]
    fn lookup_is_asked_once_per_member() {
        use std::cell::Cell;
        let c = parse("host 'a' and host 'a' or all of [host 'a', host 'b'] xor not host 'b'").unwrap();
        let site = site("a=OK b=OK");
        let r = resolve(&c, &site).unwrap();
        let calls = Cell::new(0);
        let lookup = |i: usize| {
            calls.set(calls.get() + 1);
            site.0[i].1
        };
        r.evaluate(&lookup);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn hand_built_trees_do_not_panic() {
        let statuses = [Status::Ok];
        assert_eq!(eval(&Expr::And(vec![]), &statuses), Status::Pending);
        assert_eq!(eval(&Expr::Check(7), &statuses), Status::Unknown);
        assert_eq!(eval(&Expr::Case { arms: vec![], otherwise: Status::Info }, &statuses), Status::Info);
    }
}
