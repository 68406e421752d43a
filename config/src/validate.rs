//! Validation (SEMANTICS §3): every reference, range, expression and condition, each
//! reported once where it is written, with the object's path and a hint.
//!
//! Raw values are checked (not resolved ones) so a mistake in a template is one
//! error, not one per host that inherits it; what only exists after inheritance
//! (a real cluster without a condition, a command without an engine) is checked on
//! the resolved objects.

use std::collections::HashSet;

use crate::condition;
use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::model::{Model, Site};
use crate::props::{Key, Props, Value};
use crate::raw::{Kind, ObjId, RawObject};
use crate::span::Span;

/// Check engines Bergamot runs (SEMANTICS §4, §10); others get a warning.
pub const CHECK_ENGINES: &[&str] = &["nagios", "nrpe", "snmp", "agent", "icmp", "ping", "tcp", "http", "dummy"];
/// Notification engines.
pub const NOTIFICATION_ENGINES: &[&str] = &["email", "sms", "webhook", "im", "pager"];
/// The security domain every site has without declaring it.
pub const GLOBAL_DOMAIN: &str = "global";

pub fn validate(model: &Model, diags: &mut Diagnostics) {
    for site in &model.sites {
        let raw_site = &model.raw.sites[site.raw_index];
        let mut v = Validator { model, site, diags };
        v.site_props(&raw_site.props);
        // Top-level objects, then the services, traps and resources nested in them:
        // their values are written there and are checked there.
        let mut todo: Vec<ObjId> = raw_site.objects.iter().rev().copied().collect();
        while let Some(id) = todo.pop() {
            v.object(id);
            todo.extend(model.raw.object(id).nested.iter().rev().copied());
        }
        v.resolved();
        v.graph_cycles(Kind::Location, Key::Location, true);
        v.graph_cycles(Kind::Group, Key::Groups, false);
        v.graph_cycles(Kind::Team, Key::Teams, false);
    }
}

struct Validator<'a> {
    model: &'a Model,
    site: &'a Site,
    diags: &'a mut Diagnostics,
}

impl Validator<'_> {
    fn site_props(&mut self, props: &Props) {
        if let Some(p) = props.get(Key::TimeZone) {
            if let Value::Text(tz) = &p.value {
                self.time_zone(tz, p.origin.span, &self.site.name.to_string());
            }
        }
    }

    fn object(&mut self, id: ObjId) {
        let o = self.model.raw.object(id);
        let path = self.model.raw.path(id);
        self.refs(o, &o.props, None, &path);
        if o.kind == Kind::Command {
            self.expressions(&o.props, &path);
        }
        if let Some(cc) = o.props.nested(Key::CheckCommand) {
            self.expressions(cc, &path);
        }
        for item in o.props.items(Key::TimeRanges) {
            if let Err(e) = crate::timeperiod::parse_range(&item.value) {
                let span = span_at(item.origin.span, &item.value, e.offset);
                self.diags.push(
                    Diagnostic::error(Some(span), format!("bad time range `{}`: {}", item.value, e.message))
                        .object(&path)
                        .hint("forms: `09:00-17:30`, `monday 09:00-17:30`, `day -1 00:00-24:00`, `december 25 00:00-24:00`, `monday -1 may 00:00-24:00`, `2026-04-03 00:00-24:00`"),
                );
            }
        }
        if let Some(p) = o.props.get(Key::TimeZone) {
            if let Value::Text(tz) = &p.value {
                self.time_zone(tz, p.origin.span, &path);
            }
        }
        for key in [Key::Condition, Key::Depends] {
            if let Some(p) = o.props.get(key) {
                if let Value::Text(text) = &p.value {
                    self.condition(text, p.origin.span, key, &path);
                }
            }
        }
        if o.kind == Kind::Command {
            if let Some(engine) = o.props.get(Key::Engine) {
                self.engine(&engine.value, engine.origin.span, CHECK_ENGINES, "check", &path);
            }
        }
    }

    /// References to other objects, found by key (and the element they sit in).
    fn refs(&mut self, o: &RawObject, props: &Props, context: Option<Key>, path: &str) {
        for p in props.iter() {
            let target = match (context, p.key) {
                (_, Key::Location) => Some(Kind::Location),
                (_, Key::Groups) => Some(Kind::Group),
                (_, Key::Teams) => Some(Kind::Team),
                (_, Key::Contacts) => Some(Kind::Contact),
                (_, Key::SecurityDomains | Key::SecurityDomain) => Some(Kind::SecurityDomain),
                (Some(Key::CheckCommand), Key::Command) => Some(Kind::Command),
                (_, Key::TimePeriod | Key::Excludes) => Some(Kind::TimePeriod),
                _ => None,
            };
            match (&p.value, target) {
                (Value::Text(name), Some(kind)) => self.reference(kind, name, p.origin.span, p.key, path),
                (Value::Items(items), Some(kind)) => {
                    for i in items.iter() {
                        let name = i.value.trim_start_matches(['+', '-']).trim();
                        self.reference(kind, name, i.origin.span, p.key, path);
                    }
                }
                (Value::Nested(n), _) => self.refs(o, n, Some(p.key), path),
                (Value::Records(rs), _) => {
                    for r in rs.iter() {
                        if p.key == Key::NotificationEngines {
                            if let Some(e) = r.get(Key::Engine) {
                                self.engine(&e.value, e.origin.span, NOTIFICATION_ENGINES, "notification", path);
                            }
                        }
                        self.refs(o, r, Some(p.key), path);
                    }
                }
                _ => {}
            }
        }
    }

    fn reference(&mut self, kind: Kind, name: &str, span: Span, key: Key, path: &str) {
        if name.is_empty() || self.site.get(kind, name).is_some() {
            return;
        }
        if kind == Kind::SecurityDomain && name == GLOBAL_DOMAIN {
            return;
        }
        let mut d = Diagnostic::error(Some(span), format!("unknown {kind} `{name}` in `{}`", key.xml_name())).object(path);
        let table = self.site.table(kind);
        d = match did_you_mean(name, table.names()) {
            Some(h) => d.hint(h),
            None => d.hint(format!("define `<{kind} name=\"{name}\">` in site `{}`", self.site.name)),
        };
        self.diags.push(d);
    }

    fn engine(&mut self, value: &Value, span: Span, known: &[&str], what: &str, path: &str) {
        let Value::Text(name) = value else { return };
        if known.contains(&&**name) {
            return;
        }
        let mut d = Diagnostic::warning(Some(span), format!("unknown {what} engine `{name}`")).object(path);
        d = match did_you_mean(name, known.iter().copied()) {
            Some(h) => d.hint(h),
            None => d.hint(format!("known {what} engines: {}", known.join(", "))),
        };
        self.diags.push(d);
    }

    fn expressions(&mut self, props: &Props, path: &str) {
        for p in props.params() {
            if !p.value.contains("#{") {
                continue;
            }
            if let Err(e) = crate::expr::parse_template(&p.value) {
                let span = span_at(p.origin.span, &p.value, e.offset);
                self.diags.push(
                    Diagnostic::error(Some(span), format!("bad expression in parameter `{}`: {e}", p.name))
                        .object(path)
                        .hint("expressions look like `#{host.address}`, `#{coalesce(a, 'default')}`"),
                );
            }
        }
    }

    fn time_zone(&mut self, tz: &str, span: Span, path: &str) {
        if jiff::tz::TimeZone::get(tz).is_err() {
            self.diags.push(
                Diagnostic::error(Some(span), format!("unknown time zone `{tz}`"))
                    .object(path)
                    .hint("use an IANA zone name such as `Europe/London` or `America/New_York`"),
            );
        }
    }

    fn condition(&mut self, text: &str, span: Span, key: Key, path: &str) {
        match condition::parse(text) {
            Err(e) => self.diags.push(
                Diagnostic::error(Some(span_at(span, text, e.offset)), format!("bad {}: {e}", key.xml_name()))
                    .object(path)
                    .hint("e.g. `host 'a' or host 'b'`, `service 'x' on host 'a'`, `majority of hosts in pool 'p'`"),
            ),
            Ok(c) => {
                let resolver = crate::bind::ConditionModel { site: self.site };
                match condition::resolve(&c, &resolver) {
                    Err(missing) => {
                        for m in missing {
                            self.diags.push(
                                Diagnostic::error(
                                    Some(span_at(span, text, m.offset)),
                                    format!("{} refers to `{}`, which does not exist", key.xml_name(), m.text()),
                                )
                                .object(path)
                                .hint("name a real (non-template) check of this site"),
                            );
                        }
                    }
                    Ok(r) => {
                        for pool in r.empty_pools() {
                            self.diags.push(
                                Diagnostic::warning(
                                    Some(span_at(span, text, pool.offset)),
                                    format!("no host is in resource pool `{}`", pool.value.pool),
                                )
                                .object(path)
                                .hint("hosts join a pool with `resource-pool=\"…\"`"),
                            );
                        }
                    }
                }
            }
        }
    }

    /// What only exists after inheritance.
    fn resolved(&mut self) {
        let raw = &self.model.raw;
        for kind in [Kind::Cluster, Kind::Host] {
            for c in self.site.table(kind).iter().filter(|c| !c.template) {
                if kind == Kind::Cluster && c.props.get(Key::Condition).is_none() {
                    self.missing(c.obj, "cluster has no `<condition>`", "e.g. `<condition>host 'a' or host 'b'</condition>`");
                }
                for n in c.nested.iter() {
                    if n.kind == Kind::Resource && n.props.get(Key::Condition).is_none() {
                        let msg = format!("resource `{}` of cluster `{}` has no `<condition>`", n.name, c.name);
                        self.missing_at(n.obj, c.obj, &msg, "e.g. `<condition>service 'x' on host 'a'</condition>`");
                    }
                    if n.kind == Kind::Service && command_of(&n.props).is_none() {
                        let msg = format!("service `{}` of host `{}` has no `<check-command>`", n.name, c.name);
                        self.missing_at(n.obj, c.obj, &msg, "give it (or its template) `<check-command command=\"…\"/>`");
                    }
                }
            }
        }
        for cmd in self.site.table(Kind::Command).iter() {
            if cmd.props.text(Key::Engine).is_none() && !raw.object(cmd.obj).written_template() {
                self.missing(cmd.obj, "command has no `engine`", "e.g. `<command name=\"x\" engine=\"nagios\">`");
            }
        }
    }

    fn missing(&mut self, id: ObjId, msg: &str, hint: &str) {
        let o = self.model.raw.object(id);
        self.diags.push(Diagnostic::error(Some(o.span), msg).object(self.model.raw.path(id)).hint(hint));
    }

    /// A nested check inherited into `container`: point at the container, whose
    /// instance is what lacks the value.
    fn missing_at(&mut self, nested: ObjId, container: ObjId, msg: &str, hint: &str) {
        let o = self.model.raw.object(container);
        let path = format!("{}/{}/{}", self.model.raw.path(container), self.model.raw.object(nested).kind, self.model.raw.object(nested).name());
        self.diags.push(Diagnostic::error(Some(o.span), msg).object(path).hint(hint));
    }

    /// Cycles in the location tree (an error) and the group and team graphs (warnings).
    fn graph_cycles(&mut self, kind: Kind, key: Key, is_error: bool) {
        let table = self.site.table(kind);
        let parents_of = |r: &crate::resolve::Resolved| -> Vec<String> {
            match key {
                Key::Location => r.props.text(Key::Location).map(|s| vec![s.to_string()]).unwrap_or_default(),
                _ => r.props.items(key).iter().map(|i| i.value.to_string()).collect(),
            }
        };
        let mut reported: HashSet<String> = HashSet::new();
        for start in table.iter() {
            // Depth-first from each node; graphs here are small (tens to hundreds).
            let mut stack: Vec<(String, Vec<String>)> = vec![(start.name.to_string(), vec![start.name.to_string()])];
            let mut seen: HashSet<String> = HashSet::new();
            while let Some((node, trail)) = stack.pop() {
                let Some(r) = table.get(&node) else { continue };
                for p in parents_of(r) {
                    if p == *start.name {
                        let mut cyc = trail.clone();
                        cyc.push(p.clone());
                        let mut key_set = cyc.clone();
                        key_set.sort();
                        key_set.dedup();
                        if reported.insert(key_set.join(",")) {
                            let msg = format!("{kind} cycle: {}", cyc.join(" -> "));
                            let o = self.model.raw.object(start.obj);
                            let mut d = if is_error {
                                Diagnostic::error(Some(o.span), msg)
                            } else {
                                Diagnostic::warning(Some(o.span), msg)
                            };
                            d = d.object(self.model.raw.path(start.obj)).hint(format!("a {kind} cannot contain itself"));
                            self.diags.push(d);
                        }
                    } else if seen.insert(p.clone()) && trail.len() < 256 {
                        let mut t = trail.clone();
                        t.push(p.clone());
                        stack.push((p, t));
                    }
                }
            }
        }
    }
}

/// The command a check's resolved `<check-command>` names.
pub fn command_of(props: &Props) -> Option<&str> {
    props.nested(Key::CheckCommand)?.text(Key::Command)
}

/// The position of byte `offset` of `text`, which starts at `base`.
pub fn span_at(base: Span, text: &str, offset: usize) -> Span {
    let upto = text.get(..offset.min(text.len())).unwrap_or(text);
    match upto.rfind('\n') {
        None => base.shifted(upto.chars().count()),
        Some(nl) => {
            let line = base.line + upto.matches('\n').count() as u32;
            Span { line, col: upto[nl + 1..].chars().count() as u32 + 1, ..base }
        }
    }
}
