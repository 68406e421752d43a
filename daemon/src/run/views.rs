//! The API's views of live state, built by the engine's owner from the plan and the
//! engine (never from another thread: the owner answers `api::Request`s).

use std::collections::BTreeMap;

use bergamot_config::props::Key;
use bergamot_config::raw::Kind;
use bergamot_config::view;

use crate::api::{CheckFilter, CheckView, SiteView, ts};
use crate::engine::CheckIx;
use crate::engine::core::Engine;
use crate::plan::Plan;

/// One check as the API shows it.
pub fn check_view(plan: &Plan, engine: &Engine, ix: CheckIx) -> Option<CheckView> {
    let p = plan.get(ix)?;
    let (site, obj, container) = plan.object(ix)?;
    let s = engine.state(ix)?;
    let (category, application) = view::tags(site, obj);
    Some(CheckView {
        path: plan.path(ix),
        site: site.name.to_string(),
        kind: obj.kind.element().to_string(),
        name: obj.name.to_string(),
        container: container.name.to_string(),
        summary: view::summary(obj).to_string(),
        category: category.map(str::to_lowercase),
        application: application.map(str::to_lowercase),
        status: s.status.as_str().to_string(),
        output: s.output.clone(),
        long_output: s.long_output.clone(),
        perfdata: s.perfdata.clone(),
        ok: s.ok,
        hard: s.hard,
        attempt: s.attempt,
        last_hard_status: s.last_hard_status.as_str().to_string(),
        last_change: ts(s.last_change),
        last_hard_change: ts(s.last_hard_change),
        last_check: s.last_check.map(ts),
        next_check: engine.next_due(ix).map(ts),
        acknowledged: s.is_acknowledged(),
        suppressed: s.suppressed,
        in_downtime: s.in_downtime,
        flapping: s.flapping,
        alert: s.alert,
        enabled: p.enabled,
        active: p.active,
    })
}

/// The checks a filter selects, in plan order; problems (when asked for only
/// problems) worst first, then the longest-standing first.
pub fn checks(plan: &Plan, engine: &Engine, f: &CheckFilter) -> Vec<CheckView> {
    let kind = f.kind.as_deref().and_then(|k| Kind::ALL.iter().copied().find(|x| x.element() == k));
    let mut picked: Vec<CheckIx> = (0..plan.len() as u32)
        .map(CheckIx)
        .filter(|&ix| {
            let (Some(p), Some(s)) = (plan.get(ix), engine.state(ix)) else { return false };
            if f.problems && s.ok {
                return false;
            }
            if kind.is_some_and(|k| k != p.kind) {
                return false;
            }
            let site = &plan.model.sites[p.site as usize];
            if f.site.as_deref().is_some_and(|n| n != &*site.name) {
                return false;
            }
            if let Some(c) = f.container.as_deref() {
                let Some((_, _, container)) = plan.object(ix) else { return false };
                if &*container.name != c {
                    return false;
                }
            }
            true
        })
        .collect();
    if f.problems {
        picked.sort_by_key(|&ix| {
            let s = engine.state(ix);
            (std::cmp::Reverse(s.map(|s| s.status)), s.map(|s| s.last_hard_change))
        });
    }
    picked.into_iter().take(f.limit.unwrap_or(usize::MAX)).filter_map(|ix| check_view(plan, engine, ix)).collect()
}

/// Every site with its counts by status.
pub fn sites(plan: &Plan, engine: &Engine) -> Vec<SiteView> {
    plan.model
        .sites
        .iter()
        .enumerate()
        .map(|(si, site)| {
            let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
            let mut checks = 0;
            let mut problems = 0;
            for (i, p) in plan.checks.iter().enumerate() {
                if p.site as usize != si {
                    continue;
                }
                let Some(s) = engine.state(CheckIx(i as u32)) else { continue };
                checks += 1;
                problems += usize::from(!s.ok);
                *by_status.entry(s.status.as_str().to_string()).or_default() += 1;
            }
            SiteView {
                name: site.name.to_string(),
                summary: site.props.text(Key::Summary).unwrap_or(&site.name).to_string(),
                checks,
                problems,
                by_status,
            }
        })
        .collect()
}
