//! The resolved, immutable model of every site: objects after inheritance, the real
//! checks with stable identities, time-period calendars and resource pools.
//!
//! Built once per load by [`crate::load_model`]; a reload builds a new one. Typed
//! accessors live in [`crate::view`].

use std::collections::HashMap;
use std::sync::Arc;

use jiff::tz::TimeZone;

use crate::props::{Key, Props, Str};
use crate::raw::{Kind, RawConfig};
use crate::resolve::{Objects, Resolved};
use crate::span::SourceMap;
use crate::timeperiod::Calendar;

/// Index of a real check in [`Site::checks`]; stable for one model. The identity
/// that survives reloads is the check's path (`site/host/web1/service/load`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId(pub u32);

/// Where a real check sits: a host or cluster (by its index in the site's table), or
/// the `nested`-th check of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckLoc {
    pub kind: Kind,
    pub container: u32,
    pub nested: Option<u32>,
}

#[derive(Debug)]
pub struct Model {
    pub raw: RawConfig,
    pub sources: SourceMap,
    pub sites: Vec<Site>,
}

impl Model {
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| &*s.name == name)
    }
}

#[derive(Debug)]
pub struct Site {
    pub name: Str,
    /// Index of the site in [`RawConfig::sites`].
    pub raw_index: usize,
    /// Site-level summary, description, parameters and time zone.
    pub props: Props,
    pub objects: Objects,
    /// The site's zone (`<time-zone>` at the root), else the appliance's.
    pub time_zone: TimeZone,
    /// Every time period, in the order of the site's time-period table.
    pub calendar: Calendar,
    /// Every real (non-template) check: each host then its services and traps, each
    /// cluster then its resources.
    pub checks: Vec<CheckLoc>,
    /// For each host/cluster table index, the id of its own check (`u32::MAX` for
    /// templates).
    pub(crate) host_check: Vec<u32>,
    pub(crate) cluster_check: Vec<u32>,
    /// Resource pools: pool name to host table indices.
    pub pools: HashMap<Str, Vec<u32>>,
}

impl Site {
    pub fn table(&self, kind: Kind) -> &crate::resolve::Table {
        self.objects.table(kind)
    }

    pub fn get(&self, kind: Kind, name: &str) -> Option<&Arc<Resolved>> {
        self.objects.table(kind).get(name)
    }

    /// A site parameter (`<parameter>` at the root).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.props.param(name).map(|p| &*p.value)
    }

    /// The resolved object of a check and the container it sits in (itself for hosts
    /// and clusters).
    pub fn check(&self, id: CheckId) -> Option<(&Arc<Resolved>, &Arc<Resolved>)> {
        let loc = self.checks.get(id.0 as usize)?;
        let container_kind = match loc.kind {
            Kind::Host | Kind::Service | Kind::Trap => Kind::Host,
            _ => Kind::Cluster,
        };
        let container = self.objects.table(container_kind).at(loc.container as usize);
        let obj = match loc.nested {
            Some(n) => container.nested.get(n as usize)?,
            None => container,
        };
        Some((obj, container))
    }

    /// The id of the real check `kind name [on container]`.
    pub fn find_check(&self, kind: Kind, name: &str, on: Option<&str>) -> Option<CheckId> {
        let (table_kind, ids, container_name) = match kind {
            Kind::Host => (Kind::Host, &self.host_check, name),
            Kind::Cluster => (Kind::Cluster, &self.cluster_check, name),
            Kind::Service | Kind::Trap => (Kind::Host, &self.host_check, on?),
            Kind::Resource => (Kind::Cluster, &self.cluster_check, on?),
            _ => return None,
        };
        let idx = self.objects.table(table_kind).index_of(container_name)?;
        let base = *ids.get(idx)?;
        if base == u32::MAX {
            return None;
        }
        if kind == table_kind {
            return Some(CheckId(base));
        }
        let container = self.objects.table(table_kind).at(idx);
        let pos = container.nested.iter().position(|n| n.kind == kind && &*n.name == name)?;
        Some(CheckId(base + 1 + pos as u32))
    }

    /// `site/host/web1[/service/load]`.
    pub fn check_path(&self, id: CheckId) -> Option<String> {
        let (obj, container) = self.check(id)?;
        Some(if std::ptr::eq(obj, container) {
            format!("{}/{}/{}", self.name, obj.kind, obj.name)
        } else {
            format!("{}/{}/{}/{}/{}", self.name, container.kind, container.name, obj.kind, obj.name)
        })
    }

    /// The first check id of the host or cluster at a table index.
    pub fn container_check(&self, kind: Kind, index: usize) -> Option<CheckId> {
        let ids = if kind == Kind::Host { &self.host_check } else { &self.cluster_check };
        ids.get(index).copied().filter(|&b| b != u32::MAX).map(CheckId)
    }

    /// Enumerates the real checks and pools of resolved objects.
    pub(crate) fn index_checks(objects: &Objects) -> (Vec<CheckLoc>, Vec<u32>, Vec<u32>, HashMap<Str, Vec<u32>>) {
        let mut checks = Vec::new();
        let mut host_check = Vec::new();
        let mut cluster_check = Vec::new();
        let mut pools: HashMap<Str, Vec<u32>> = HashMap::new();
        for (kind, ids) in [(Kind::Host, &mut host_check), (Kind::Cluster, &mut cluster_check)] {
            for (i, c) in objects.table(kind).iter().enumerate() {
                if c.template {
                    ids.push(u32::MAX);
                    continue;
                }
                ids.push(checks.len() as u32);
                checks.push(CheckLoc { kind, container: i as u32, nested: None });
                for (n, nested) in c.nested.iter().enumerate() {
                    checks.push(CheckLoc { kind: nested.kind, container: i as u32, nested: Some(n as u32) });
                }
                if kind == Kind::Host {
                    if let Some(pool) = c.props.text(Key::ResourcePool) {
                        pools.entry(Str::from(pool)).or_default().push(i as u32);
                    }
                }
            }
        }
        (checks, host_check, cluster_check, pools)
    }
}
