//! Virtual checks (clusters and resources, SEMANTICS §6): which virtual checks a
//! member's change affects, in dependency order, and their re-evaluation.
//!
//! Pure: built once per loaded model from resolved conditions; members' state comes
//! from a lookup. It does not own check state or apply transitions (that is
//! [`super::state::CheckState::apply_virtual`]).
//!
//! - Status and hardness come from `bergamot_config`'s [`Resolved::evaluate`]: a
//!   member acknowledged, suppressed or in downtime counts as OK
//!   ([`Member::effective_status`]); the virtual check is hard when every member is.
//! - A virtual check may be a member of another (a cluster's resource in another
//!   cluster's condition). [`Virtuals::affected`] lists every virtual check a change
//!   reaches, each after the virtual checks it depends on, so recomputing them in that
//!   order sees every member fresh.
//! - Configuration validation does not refuse cycles (`cluster 'a'` naming a resource
//!   of itself). Here they cannot loop: each virtual check appears once in
//!   [`Virtuals::affected`]; those in or behind a cycle come last, in index order,
//!   and read whatever their members' state is. [`Virtuals::unordered`] names them so
//!   the daemon can warn.

use std::collections::HashMap;
use std::fmt;

use bergamot_config::condition::{CheckRef, Evaluation, Member, PoolRef, Resolved, Resolver};

use super::CheckIx;

/// Resolves condition references to [`CheckIx`] through another resolver (the model's
/// `bergamot_config::bind::ConditionModel`, which gives `CheckId`s) and a mapping,
/// so conditions are bound straight to engine indices.
pub struct IxResolver<R, F> {
    pub inner: R,
    pub map: F,
}

impl<R: Resolver, F: Fn(R::Id) -> CheckIx> IxResolver<R, F> {
    pub fn new(inner: R, map: F) -> Self {
        IxResolver { inner, map }
    }
}

impl<R: Resolver, F: Fn(R::Id) -> CheckIx> Resolver for IxResolver<R, F> {
    type Id = CheckIx;

    fn check(&self, r: &CheckRef) -> Option<CheckIx> {
        self.inner.check(r).map(&self.map)
    }

    fn pool(&self, p: &PoolRef) -> Vec<CheckIx> {
        self.inner.pool(p).into_iter().map(&self.map).collect()
    }
}

impl<R: fmt::Debug, F> fmt::Debug for IxResolver<R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IxResolver").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// One virtual check. Entry numbers (`u32`) index `Virtuals::entries`; they are only
/// made while building, below its length, so indexing with them cannot fail.
#[derive(Debug)]
struct Entry {
    ix: CheckIx,
    condition: Resolved<CheckIx>,
    /// Whether this virtual check is a member of another one.
    has_dependents: bool,
}

/// Every virtual check of the engine, with a reverse index from members.
#[derive(Debug)]
pub struct Virtuals {
    /// In dependency order: a virtual check's position is its rank.
    entries: Vec<Entry>,
    by_ix: HashMap<CheckIx, u32>,
    /// Member → range in `dependents` of the (ascending) entries naming it.
    reverse: HashMap<CheckIx, (u32, u32)>,
    dependents: Vec<u32>,
    unordered: Vec<CheckIx>,
}

impl Virtuals {
    /// From each virtual check and its resolved condition. A check given twice keeps
    /// its last condition.
    pub fn new(list: impl IntoIterator<Item = (CheckIx, Resolved<CheckIx>)>) -> Self {
        let mut by_cond: HashMap<CheckIx, Resolved<CheckIx>> = HashMap::new();
        for (ix, c) in list {
            by_cond.insert(ix, c);
        }
        let mut ixs: Vec<CheckIx> = by_cond.keys().copied().collect();
        ixs.sort_unstable();
        let (order, unordered) = topological(&ixs, &by_cond);

        let mut entries: Vec<Entry> = Vec::with_capacity(order.len());
        let mut by_ix = HashMap::with_capacity(order.len());
        for ix in order {
            if let Some(condition) = by_cond.remove(&ix) {
                by_ix.insert(ix, entries.len() as u32);
                entries.push(Entry { ix, condition, has_dependents: false });
            }
        }

        // Reverse index as one flat vector: (member, entry) pairs sorted by member,
        // entries ascending within a member because they are pushed in rank order.
        let mut pairs: Vec<(CheckIx, u32)> = Vec::new();
        for (e, entry) in entries.iter().enumerate() {
            pairs.extend(entry.condition.members().iter().map(|&m| (m, e as u32)));
        }
        pairs.sort_unstable();
        let mut reverse = HashMap::new();
        let mut dependents = Vec::with_capacity(pairs.len());
        for (i, &(m, e)) in pairs.iter().enumerate() {
            if i == 0 || pairs[i - 1].0 != m {
                reverse.insert(m, (i as u32, 0));
            }
            if let Some(r) = reverse.get_mut(&m) {
                r.1 += 1;
            }
            dependents.push(e);
        }
        for entry in &mut entries {
            entry.has_dependents = reverse.contains_key(&entry.ix);
        }
        Virtuals { entries, by_ix, reverse, dependents, unordered }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn is_virtual(&self, ix: CheckIx) -> bool {
        self.by_ix.contains_key(&ix)
    }

    /// Every virtual check in dependency order (for the first evaluation at start).
    pub fn iter(&self) -> impl Iterator<Item = CheckIx> + '_ {
        self.entries.iter().map(|e| e.ix)
    }

    /// The distinct members of a virtual check's condition.
    pub fn members(&self, v: CheckIx) -> &[CheckIx] {
        self.entry(v).map_or(&[], |e| e.condition.members())
    }

    /// Virtual checks in a cycle or depending on one, in index order.
    pub fn unordered(&self) -> &[CheckIx] {
        &self.unordered
    }

    /// Every virtual check a change of `member` reaches, directly or through other
    /// virtual checks, each once and after the virtual checks it depends on.
    /// Allocates only when a reached virtual check is itself a member of another.
    pub fn affected(&self, member: CheckIx) -> Affected<'_> {
        let direct = self.direct(member);
        if direct.iter().all(|&e| !self.entries[e as usize].has_dependents) {
            return Affected { virtuals: self, inner: AffectedInner::Direct(direct.iter()) };
        }
        let mut seen = vec![false; self.entries.len()];
        let mut stack: Vec<u32> = direct.to_vec();
        let mut out = Vec::new();
        while let Some(e) = stack.pop() {
            if std::mem::replace(&mut seen[e as usize], true) {
                continue;
            }
            out.push(e);
            let entry = &self.entries[e as usize];
            if entry.has_dependents {
                stack.extend(self.direct(entry.ix).iter().filter(|&&d| !seen[d as usize]));
            }
        }
        // Entry positions are ranks: sorting puts dependencies first.
        out.sort_unstable();
        Affected { virtuals: self, inner: AffectedInner::Closure(out.into_iter()) }
    }

    /// Status and hardness of `v` from its members' current state; `None` when `v` is
    /// not a virtual check.
    pub fn recompute(&self, v: CheckIx, lookup: impl Fn(CheckIx) -> Member) -> Option<Evaluation> {
        self.entry(v).map(|e| e.condition.evaluate(&lookup))
    }

    fn entry(&self, v: CheckIx) -> Option<&Entry> {
        self.by_ix.get(&v).map(|&e| &self.entries[e as usize])
    }

    /// Entries whose condition names `member`, ascending.
    fn direct(&self, member: CheckIx) -> &[u32] {
        match self.reverse.get(&member) {
            Some(&(start, len)) => &self.dependents[start as usize..(start + len) as usize],
            None => &[],
        }
    }
}

/// The virtual checks [`Virtuals::affected`] reaches.
#[derive(Debug)]
pub struct Affected<'a> {
    virtuals: &'a Virtuals,
    inner: AffectedInner<'a>,
}

#[derive(Debug)]
enum AffectedInner<'a> {
    Direct(std::slice::Iter<'a, u32>),
    Closure(std::vec::IntoIter<u32>),
}

impl Iterator for Affected<'_> {
    type Item = CheckIx;

    fn next(&mut self) -> Option<CheckIx> {
        let e = match &mut self.inner {
            AffectedInner::Direct(it) => *it.next()?,
            AffectedInner::Closure(it) => it.next()?,
        };
        Some(self.virtuals.entries[e as usize].ix)
    }
}

/// Orders virtual checks so each comes after the virtual checks among its members
/// (Kahn's algorithm, smallest index first for a stable order). Returns the order
/// and, separately, those left over by cycles; the order then ends with them.
fn topological(ixs: &[CheckIx], conds: &HashMap<CheckIx, Resolved<CheckIx>>) -> (Vec<CheckIx>, Vec<CheckIx>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    // Indexing `conds` and `indegree` by an element of `ixs` cannot fail: `ixs` are the
    // keys of `conds`, and `indegree` gets every one of them first.
    let mut indegree: HashMap<CheckIx, usize> = HashMap::with_capacity(ixs.len());
    let mut users: HashMap<CheckIx, Vec<CheckIx>> = HashMap::new();
    for &v in ixs {
        let virtual_members = conds[&v].members().iter().filter(|m| conds.contains_key(m));
        let mut n = 0;
        for &m in virtual_members {
            users.entry(m).or_default().push(v);
            n += 1;
        }
        indegree.insert(v, n);
    }
    let mut ready: BinaryHeap<Reverse<CheckIx>> =
        ixs.iter().filter(|v| indegree[v] == 0).map(|&v| Reverse(v)).collect();
    let mut order = Vec::with_capacity(ixs.len());
    while let Some(Reverse(v)) = ready.pop() {
        order.push(v);
        for &u in users.get(&v).map_or(&[][..], Vec::as_slice) {
            if let Some(d) = indegree.get_mut(&u) {
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse(u));
                }
            }
        }
    }
    let unordered: Vec<CheckIx> = ixs.iter().copied().filter(|v| indegree[v] > 0).collect();
    order.extend_from_slice(&unordered);
    (order, unordered)
}
