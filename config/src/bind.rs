//! Binds the pure engines (conditions, expressions) to the resolved model.

use crate::condition::{self, CheckKind, CheckRef, PoolMembers, PoolRef};
use crate::model::{CheckId, Site};
use crate::raw::Kind;

/// Resolves condition references against one site's real checks.
#[derive(Debug, Clone, Copy)]
pub struct ConditionModel<'a> {
    pub site: &'a Site,
}

pub fn kind_of(k: CheckKind) -> Kind {
    match k {
        CheckKind::Host => Kind::Host,
        CheckKind::Service => Kind::Service,
        CheckKind::Trap => Kind::Trap,
        CheckKind::Cluster => Kind::Cluster,
        CheckKind::Resource => Kind::Resource,
    }
}

impl condition::Resolver for ConditionModel<'_> {
    type Id = CheckId;

    fn check(&self, r: &CheckRef) -> Option<CheckId> {
        self.site.find_check(kind_of(r.kind), &r.name, r.on.as_deref())
    }

    fn pool(&self, p: &PoolRef) -> Vec<CheckId> {
        let Some(hosts) = self.site.pools.get(p.pool.as_str()) else { return Vec::new() };
        let mut out = Vec::new();
        for &h in hosts {
            let Some(base) = self.site.container_check(Kind::Host, h as usize) else { continue };
            let host = self.site.table(Kind::Host).at(h as usize);
            let nested = host.nested.iter().enumerate();
            let at = |i: usize| CheckId(base.0 + 1 + i as u32);
            match &p.members {
                PoolMembers::Hosts => out.push(base),
                PoolMembers::Services => {
                    out.extend(nested.filter(|(_, n)| n.kind == Kind::Service).map(|(i, _)| at(i)))
                }
                PoolMembers::Traps => out.extend(nested.filter(|(_, n)| n.kind == Kind::Trap).map(|(i, _)| at(i))),
                PoolMembers::Service(s) => out.extend(
                    nested.filter(|(_, n)| n.kind == Kind::Service && &*n.name == s.as_str()).map(|(i, _)| at(i)),
                ),
                PoolMembers::Trap(t) => out.extend(
                    nested.filter(|(_, n)| n.kind == Kind::Trap && &*n.name == t.as_str()).map(|(i, _)| at(i)),
                ),
            }
        }
        out
    }
}
