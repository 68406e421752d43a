//! Inheritance (SEMANTICS §2): raw objects of one site into resolved objects.
//!
//! Parents are resolved recursively in `extends` order, the earlier parent more
//! specific, then the object's own values on top (see [`Props::merged_over`] for the
//! per-property rules). Nested services and traps of hosts and resources of clusters
//! are inherited as shared `Arc`s, so ten thousand hosts built on one template share
//! that template's resolved services instead of copying them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::props::{Props, Str};
use crate::raw::{Kind, ObjId, RawConfig};
use crate::span::SourceMap;

/// Deeper inheritance than this is certainly a mistake (and would risk the stack).
const MAX_DEPTH: usize = 128;

/// An object after inheritance.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The raw object that defines it (for inherited nested checks: the most
    /// specific definition).
    pub obj: ObjId,
    pub kind: Kind,
    pub name: Str,
    /// Only meaningful for top-level objects; a nested check is real exactly when
    /// its container is.
    pub template: bool,
    /// The raw objects it directly inherits from, most specific first.
    pub parents: Box<[ObjId]>,
    pub props: Props,
    /// Services and traps of a host, resources of a cluster.
    pub nested: Arc<[Arc<Resolved>]>,
}

impl Resolved {
    pub fn nested_named(&self, kind: Kind, name: &str) -> Option<&Arc<Resolved>> {
        self.nested.iter().find(|n| n.kind == kind && &*n.name == name)
    }
}

/// The top-level objects of one kind in one site, in load order, by name.
#[derive(Debug, Clone, Default)]
pub struct Table {
    by_name: HashMap<Str, u32>,
    items: Vec<Arc<Resolved>>,
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Arc<Resolved>> {
        self.by_name.get(name).map(|&i| &self.items[i as usize])
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).map(|&i| i as usize)
    }

    pub fn at(&self, i: usize) -> &Arc<Resolved> {
        &self.items[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Resolved>> {
        self.items.iter()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|r| &*r.name)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The resolved top-level objects of a site, per kind.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    tables: [Table; 13],
}

impl Objects {
    pub fn table(&self, kind: Kind) -> &Table {
        &self.tables[kind as usize]
    }
}

#[derive(Clone)]
enum State {
    Todo,
    Active,
    Done(Arc<Resolved>),
    Failed,
}

struct Resolver<'a> {
    raw: &'a RawConfig,
    sources: &'a SourceMap,
    diags: &'a mut Diagnostics,
    /// Top-level objects of the site by kind and name.
    names: [HashMap<Str, ObjId>; 13],
    state: HashMap<ObjId, State>,
    stack: Vec<ObjId>,
}

/// Resolves every object of site `site` of `raw`.
pub fn resolve_site(raw: &RawConfig, site: usize, sources: &SourceMap, diags: &mut Diagnostics) -> Objects {
    let mut r = Resolver {
        raw,
        sources,
        diags,
        names: Default::default(),
        state: HashMap::new(),
        stack: Vec::new(),
    };
    let top: Vec<ObjId> = raw.sites[site].objects.clone();
    for &id in &top {
        let o = raw.object(id);
        let Some(name) = &o.name else { continue };
        if name.value.is_empty() {
            continue;
        }
        let names = &mut r.names[o.kind as usize];
        if let Some(&first) = names.get(&name.value) {
            let at = r.sources.locate(raw.object(first).span);
            r.diags.push(
                Diagnostic::error(Some(name.span), format!("duplicate {} name `{}`", o.kind, name.value))
                    .object(raw.path(id))
                    .hint(format!("first defined at {at}; names are unique per type within a site")),
            );
            continue;
        }
        names.insert(name.value.clone(), id);
        if o.kind.is_nested_kind() && o.template.as_ref().is_some_and(|t| !t.value) {
            r.diags.push(
                Diagnostic::warning(
                    o.template.as_ref().map(|t| t.span),
                    format!("a top-level {} is always a template", o.kind),
                )
                .object(raw.path(id))
                .hint(format!("define real {}s inside a {}", o.kind, if o.kind == Kind::Resource { "cluster" } else { "host" })),
            );
        }
    }
    let mut objects = Objects::default();
    for &id in &top {
        let o = raw.object(id);
        let registered = o.name.as_ref().and_then(|n| r.names[o.kind as usize].get(&n.value)) == Some(&id);
        if !registered {
            continue;
        }
        if let Some(res) = r.top(id, 0) {
            let t = &mut objects.tables[o.kind as usize];
            t.by_name.insert(res.name.clone(), t.items.len() as u32);
            t.items.push(res);
        }
    }
    objects
}

impl Resolver<'_> {
    fn top(&mut self, id: ObjId, depth: usize) -> Option<Arc<Resolved>> {
        match self.state.get(&id).cloned().unwrap_or(State::Todo) {
            State::Done(r) => return Some(r),
            State::Failed => return None,
            State::Active => {
                self.cycle(id);
                return None;
            }
            State::Todo => {}
        }
        let raw = self.raw;
        let o = raw.object(id);
        if depth > MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(Some(o.span), format!("inheritance deeper than {MAX_DEPTH} levels"))
                    .object(raw.path(id)),
            );
            self.state.insert(id, State::Failed);
            return None;
        }
        self.state.insert(id, State::Active);
        self.stack.push(id);
        let mut parents = Vec::with_capacity(o.extends.len());
        let mut ok = true;
        for ext in &o.extends {
            match self.names[o.kind as usize].get(&ext.value).copied() {
                Some(pid) => match self.top(pid, depth + 1) {
                    Some(p) => parents.push(p),
                    None => ok = false,
                },
                None => {
                    self.unknown_parent(id, o.kind, &ext.value, ext.span);
                }
            }
        }
        self.stack.pop();
        if !ok && matches!(self.state.get(&id), Some(State::Failed)) {
            return None;
        }
        let template = o.written_template() || o.kind.is_nested_kind();
        let res = Arc::new(self.build(id, &parents, template));
        self.state.insert(id, State::Done(res.clone()));
        Some(res)
    }

    /// Builds an object from its resolved parents (most specific first) and own values.
    fn build(&mut self, id: ObjId, parents: &[Arc<Resolved>], template: bool) -> Resolved {
        let raw = self.raw;
        let o = raw.object(id);
        let props = merge_chain(&o.props, parents.iter().map(|p| &p.props));
        let mut nested: Vec<Arc<Resolved>> = Vec::new();
        for p in parents.iter().rev() {
            for n in p.nested.iter() {
                match nested.iter_mut().find(|x| x.kind == n.kind && x.name == n.name) {
                    Some(slot) => *slot = Arc::new(over(n, slot)),
                    None => nested.push(n.clone()),
                }
            }
        }
        let mut own_names: Vec<(Kind, &str)> = Vec::new();
        for &nid in &o.nested {
            let n = raw.object(nid);
            let name = n.name();
            if name.is_empty() {
                continue;
            }
            if own_names.contains(&(n.kind, name)) {
                self.diags.push(
                    Diagnostic::error(n.name.as_ref().map(|s| s.span), format!("duplicate {} name `{name}` in this {}", n.kind, o.kind))
                        .object(raw.path(nid)),
                );
                continue;
            }
            own_names.push((n.kind, name));
            let slot = nested.iter().position(|x| x.kind == n.kind && &*x.name == name);
            let inherited = slot.map(|i| nested[i].clone());
            let res = Arc::new(self.nested(nid, parents, inherited));
            match slot {
                Some(i) => nested[i] = res,
                None => nested.push(res),
            }
        }
        // An object without nested checks of its own that inherits from one parent
        // shares the parent's list.
        let nested: Arc<[Arc<Resolved>]> = match parents {
            [only] if o.nested.is_empty() => only.nested.clone(),
            _ => nested.into(),
        };
        Resolved {
            obj: id,
            kind: o.kind,
            name: o.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| Str::from("")),
            template,
            parents: parents.iter().map(|p| p.obj).collect(),
            props,
            nested,
        }
    }

    /// A nested service, trap or resource in the context of its container's parents:
    /// `extends="x"` first names a nested object x of those parents, then a
    /// top-level template x. A same-named check inherited from the container's
    /// parents is the least specific parent.
    fn nested(&mut self, id: ObjId, container_parents: &[Arc<Resolved>], inherited: Option<Arc<Resolved>>) -> Resolved {
        let raw = self.raw;
        let o = raw.object(id);
        let mut parents = Vec::new();
        for ext in &o.extends {
            let from_container =
                container_parents.iter().find_map(|p| p.nested_named(o.kind, &ext.value)).cloned();
            let found = match from_container {
                Some(p) => Some(p),
                None => match self.names[o.kind as usize].get(&ext.value).copied() {
                    Some(pid) => self.top(pid, 1),
                    None => {
                        self.unknown_parent(id, o.kind, &ext.value, ext.span);
                        None
                    }
                },
            };
            parents.extend(found);
        }
        parents.extend(inherited);
        if let Some(t) = &o.template {
            self.diags.push(
                Diagnostic::warning(Some(t.span), format!("`template` on a nested {} is ignored", o.kind))
                    .object(raw.path(id))
                    .hint("a nested check is a template exactly when its container is"),
            );
        }
        self.build(id, &parents, false)
    }

    fn unknown_parent(&mut self, id: ObjId, kind: Kind, name: &str, span: crate::span::Span) {
        let mut d = Diagnostic::error(Some(span), format!("unknown parent {kind} `{name}`")).object(self.raw.path(id));
        let candidates: Vec<&str> = self.names[kind as usize].keys().map(|k| &**k).collect();
        if let Some(h) = did_you_mean(name, candidates) {
            d = d.hint(h);
        } else {
            d = d.hint(format!("define `<{kind} name=\"{name}\" template=\"yes\">` or fix the `extends` list"));
        }
        self.diags.push(d);
    }

    fn cycle(&mut self, id: ObjId) {
        let raw = self.raw;
        let start = self.stack.iter().position(|&x| x == id).unwrap_or(0);
        let mut names: Vec<&str> = self.stack[start..].iter().map(|&x| raw.object(x).name()).collect();
        names.push(raw.object(id).name());
        // Report at the `extends` of the last object, the one that closes the cycle.
        let closer = self.stack.last().copied().unwrap_or(id);
        let span = raw
            .object(closer)
            .extends
            .iter()
            .find(|e| &*e.value == raw.object(id).name())
            .map(|e| e.span)
            .unwrap_or(raw.object(closer).span);
        self.diags.push(
            Diagnostic::error(Some(span), format!("inheritance cycle: {}", names.join(" -> ")))
                .object(raw.path(closer))
                .hint("an object cannot inherit from itself, directly or through its parents"),
        );
        for &x in &self.stack[start..] {
            self.state.insert(x, State::Failed);
        }
    }
}

/// Own values over parents given most specific first.
pub fn merge_chain<'p>(own: &Props, parents: impl DoubleEndedIterator<Item = &'p Props>) -> Props {
    let mut acc: Option<Props> = None;
    for p in parents.rev() {
        acc = Some(match acc {
            None => p.clone(),
            Some(a) => p.merged_over(&a),
        });
    }
    match acc {
        None => own.normalise(),
        Some(a) => own.merged_over(&a),
    }
}

/// A more specific nested check over a less specific one of the same name.
fn over(more: &Arc<Resolved>, less: &Arc<Resolved>) -> Resolved {
    Resolved {
        obj: more.obj,
        kind: more.kind,
        name: more.name.clone(),
        template: false,
        parents: more.parents.iter().copied().chain(std::iter::once(less.obj)).collect(),
        props: more.props.merged_over(&less.props),
        nested: more.nested.clone(),
    }
}
