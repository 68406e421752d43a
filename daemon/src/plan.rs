//! The daemon's table of checks, built from a loaded model: one [`Planned`] row per real
//! check of every site, indexed by [`CheckIx`], with what the engine needs at hand
//! (schedule, thresholds, initial state, dependencies, conditions, the target host).
//!
//! Built once per load, in one pass without per-check string formatting (start-up of
//! 100,000 checks must stay well under a second); a check's path is formatted only on
//! demand. Command parameters are *not* evaluated here: that happens when a check
//! first runs (`exec::spec`), so a large estate starts at once.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bergamot_config::bind::ConditionModel;
use bergamot_config::condition::{self, CheckRef, PoolRef, Resolver};
use bergamot_config::model::{CheckId, Model, Site};
use bergamot_config::props::Key;
use bergamot_config::raw::Kind;
use bergamot_config::resolve::Resolved;
use bergamot_config::status::Status;
use bergamot_config::view::{self, Schedule};

use crate::engine::CheckIx;
use crate::engine::schedule::StableHasher;
use crate::exec::EngineName;

/// A resolved condition whose members are engine indices.
pub type Condition = condition::Resolved<CheckIx>;

/// One real check.
#[derive(Debug)]
pub struct Planned {
    pub site: u16,
    /// The check's id within its site's model.
    pub id: CheckId,
    pub kind: Kind,
    /// The host check this check depends on (a service's or trap's host); `None` for
    /// hosts and virtual checks.
    pub host: Option<CheckIx>,
    /// The target a per-host cap counts against: the container's index in the plan's
    /// host numbering (hosts and clusters of every site, numbered in order).
    pub target: u32,
    /// Scheduled by the daemon: hosts and services with a check command, enabled.
    /// Traps are passive, clusters and resources virtual.
    pub active: bool,
    pub enabled: bool,
    pub suppressed: bool,
    pub schedule: Schedule,
    /// Index of the schedule's time period in the site's calendar.
    pub period: Option<usize>,
    pub failed_after: u32,
    pub recovers_after: u32,
    pub initially: (Status, String),
    /// A host's `<depends>`, resolved (boxed: most checks have none, and this row
    /// exists for every check).
    pub depends: Option<Box<Condition>>,
    /// A cluster's or resource's `<condition>`, resolved.
    pub condition: Option<Box<Condition>>,
    /// Stable across restarts and reloads: spreads first runs (schedule phase).
    pub key: u64,
    /// What the check's probe will be, for the caps on checks in flight: the engine,
    /// or for a `nagios` line that runs natively, the native engine (a guess from the
    /// line as written; the driver corrects it once the parameters are evaluated).
    pub class: Option<EngineName>,
}

/// Every check of every site of one model.
#[derive(Debug)]
pub struct Plan {
    pub model: Arc<Model>,
    pub checks: Vec<Planned>,
    /// Index of each site's first check in `checks`.
    site_base: Vec<u32>,
    /// Problems found while planning (conditions that did not resolve); validation
    /// reports them too, so a model without errors has none.
    pub problems: Vec<String>,
}

impl Plan {
    pub fn new(model: Arc<Model>) -> Plan {
        let total: usize = model.sites.iter().map(|s| s.checks.len()).sum();
        let mut checks = Vec::with_capacity(total);
        let mut site_base = Vec::with_capacity(model.sites.len());
        let mut problems = Vec::new();
        let mut targets = 0u32;
        for (si, site) in model.sites.iter().enumerate() {
            let base = checks.len() as u32;
            site_base.push(base);
            let resolver = IxResolver { site, base };
            let hosts = site.table(Kind::Host).len() as u32;
            for (i, loc) in site.checks.iter().enumerate() {
                let id = CheckId(i as u32);
                let Some((obj, container)) = site.check(id) else { continue };
                let host = match loc.kind {
                    Kind::Service | Kind::Trap => site.container_check(Kind::Host, loc.container as usize),
                    _ => None,
                }
                .map(|c| CheckIx(base + c.0));
                let target = targets
                    + match loc.kind {
                        Kind::Cluster | Kind::Resource => hosts + loc.container,
                        _ => loc.container,
                    };
                let mut resolve = |key: Key| -> Option<Box<Condition>> {
                    let text = obj.props.text(key)?;
                    let parsed = condition::parse(text).ok()?;
                    match condition::resolve(&parsed, &resolver) {
                        Ok(c) => Some(Box::new(c)),
                        Err(missing) => {
                            problems.push(format!(
                                "{}/{}: {} refers to missing checks: {}",
                                site.name,
                                obj.name,
                                key.xml_name(),
                                missing.iter().map(|m| m.text()).collect::<Vec<_>>().join(", ")
                            ));
                            None
                        }
                    }
                };
                let depends = if loc.kind == Kind::Host { resolve(Key::Depends) } else { None };
                let virtual_check = matches!(loc.kind, Kind::Cluster | Kind::Resource);
                let condition = if virtual_check { resolve(Key::Condition) } else { None };
                let schedule = view::schedule(&obj.props);
                let period = schedule.time_period.as_deref().and_then(|p| site.calendar.find(p));
                let (failed_after, recovers_after) = view::thresholds(&obj.props);
                let enabled = obj.props.bool(Key::Enabled).unwrap_or(true);
                let has_command = obj.props.nested(Key::CheckCommand).is_some_and(|c| c.text(Key::Command).is_some());
                checks.push(Planned {
                    site: si as u16,
                    id,
                    kind: loc.kind,
                    host,
                    target,
                    active: enabled && has_command && matches!(loc.kind, Kind::Host | Kind::Service),
                    enabled,
                    suppressed: obj.props.bool(Key::Suppressed).unwrap_or(false),
                    schedule,
                    period,
                    failed_after,
                    recovers_after,
                    initially: view::initially(&obj.props),
                    depends,
                    condition,
                    key: path_key(&site.name, container, obj),
                    class: if virtual_check { None } else { class_of(site, obj) },
                });
            }
            targets += hosts + site.table(Kind::Cluster).len() as u32;
        }
        Plan { model, checks, site_base, problems }
    }

    /// A plan of nothing (a placeholder while an engine is swapped).
    pub fn empty() -> Plan {
        let model = bergamot_config::model::Model {
            raw: Default::default(),
            sources: Default::default(),
            sites: Vec::new(),
        };
        Plan { model: Arc::new(model), checks: Vec::new(), site_base: Vec::new(), problems: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.checks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    pub fn get(&self, ix: CheckIx) -> Option<&Planned> {
        self.checks.get(ix.index())
    }

    pub fn site(&self, ix: CheckIx) -> Option<&Site> {
        self.model.sites.get(self.get(ix)?.site as usize)
    }

    /// The check's resolved object and its container (itself for hosts and clusters).
    pub fn object(&self, ix: CheckIx) -> Option<(&Site, &Arc<Resolved>, &Arc<Resolved>)> {
        let p = self.get(ix)?;
        let site = self.model.sites.get(p.site as usize)?;
        let (obj, container) = site.check(p.id)?;
        Some((site, obj, container))
    }

    /// `site/host/web1[/service/load]`: the identity that survives reloads.
    pub fn path(&self, ix: CheckIx) -> String {
        let Some(p) = self.get(ix) else { return format!("#{}", ix.0) };
        self.model.sites.get(p.site as usize).and_then(|s| s.check_path(p.id)).unwrap_or_else(|| format!("#{}", ix.0))
    }

    /// The engine index of a site's check.
    pub fn ix(&self, site: usize, id: CheckId) -> Option<CheckIx> {
        let base = *self.site_base.get(site)?;
        let site_len = self.model.sites.get(site)?.checks.len() as u32;
        (id.0 < site_len).then_some(CheckIx(base + id.0))
    }

    /// The check `kind name [on container]` of a site, by site name.
    pub fn find(&self, site: &str, kind: Kind, name: &str, on: Option<&str>) -> Option<CheckIx> {
        let si = self.model.sites.iter().position(|s| &*s.name == site)?;
        let id = self.model.sites.get(si)?.find_check(kind, name, on)?;
        self.ix(si, id)
    }

    /// Checks that run on a schedule.
    pub fn active(&self) -> impl Iterator<Item = (CheckIx, &Planned)> {
        self.checks.iter().enumerate().filter(|(_, p)| p.active).map(|(i, p)| (CheckIx(i as u32), p))
    }

    /// Virtual checks (clusters, resources) with their resolved condition.
    pub fn virtuals(&self) -> impl Iterator<Item = (CheckIx, &Condition)> {
        self.checks.iter().enumerate().filter_map(|(i, p)| p.condition.as_deref().map(|c| (CheckIx(i as u32), c)))
    }
}

/// The engine a check's command names; for `nagios` lines of plugins that run
/// natively, the native engine.
fn class_of(site: &Site, obj: &Resolved) -> Option<EngineName> {
    let cc = obj.props.nested(Key::CheckCommand)?;
    let command = site.get(Kind::Command, cc.text(Key::Command)?)?;
    let engine = EngineName::parse(command.props.text(Key::Engine)?)?;
    if engine != EngineName::Nagios {
        return Some(engine);
    }
    let line = cc.param("command_line").or_else(|| command.props.param("command_line")).map(|p| &*p.value);
    Some(match line {
        Some(l) if l.contains("check_ping") || l.contains("check_icmp") => EngineName::Ping,
        Some(l) if l.contains("check_nrpe") => EngineName::Nrpe,
        Some(l) if l.contains("check_snmp") => EngineName::Snmp,
        Some(l) if l.contains("check_tcp") => EngineName::Tcp,
        _ => EngineName::Nagios,
    })
}

/// A stable 64-bit key of a check's identity (FNV-1a over its path's parts): the same
/// check gets the same schedule phase after a restart or a reload.
fn path_key(site: &str, container: &Resolved, obj: &Resolved) -> u64 {
    // `schedule::spread` mixes the key, so nearby names land far apart already.
    let mut h = StableHasher::new();
    site.hash(&mut h);
    container.kind.element().hash(&mut h);
    container.name.hash(&mut h);
    if !std::ptr::eq(container, obj) {
        obj.kind.element().hash(&mut h);
        obj.name.hash(&mut h);
    }
    h.finish()
}

/// Resolves condition references of one site to engine indices.
struct IxResolver<'a> {
    site: &'a Site,
    base: u32,
}

impl Resolver for IxResolver<'_> {
    type Id = CheckIx;

    fn check(&self, r: &CheckRef) -> Option<CheckIx> {
        ConditionModel { site: self.site }.check(r).map(|c| CheckIx(self.base + c.0))
    }

    fn pool(&self, p: &PoolRef) -> Vec<CheckIx> {
        ConditionModel { site: self.site }.pool(p).into_iter().map(|c| CheckIx(self.base + c.0)).collect()
    }
}
