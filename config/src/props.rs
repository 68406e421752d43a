//! Property bags: every value an object carries, where it was written, and the
//! per-property merge rules of inheritance (SEMANTICS §2).
//!
//! Raw objects and resolved objects share this representation: a small sorted vector
//! of [`Prop`]s. Most objects set a handful of properties, so a sparse bag is far
//! smaller than a struct of options, and one generic merge serves every kind. Values
//! are behind `Arc`s so a resolved object shares everything it inherits unchanged.

use std::sync::Arc;
use std::time::Duration;

use crate::raw::ObjId;
use crate::span::Span;
use crate::status::Status;

/// Shared immutable string.
pub type Str = Arc<str>;

/// Who wrote a value: the object (raw, as written) and the position in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Origin {
    pub obj: ObjId,
    pub span: Span,
}

/// Every property an object of any kind can have. Typed views in [`crate::model`]
/// say which kinds use which keys; the loader only sets the keys a kind allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    // Text and scalars: the most specific non-empty value wins.
    Summary,
    Description,
    Address,
    Location,
    ResourcePool,
    Category,
    Application,
    Engine,
    Executor,
    Condition,
    Depends,
    ExternalRef,
    Enabled,
    Suppressed,
    FirstName,
    FamilyName,
    Email,
    Pager,
    Mobile,
    Phone,
    Im,
    Username,
    Password,
    TimeZone,
    // Nested elements, merged field by field.
    CheckCommand,
    Schedule,
    State,
    Notifications,
    Notify,
    Initially,
    // Fields of nested elements.
    Command,
    Every,
    RetryEvery,
    ChangingEvery,
    TimePeriod,
    FailedAfter,
    RecoversAfter,
    Status,
    Output,
    Alerts,
    Recovery,
    Acknowledge,
    AllEngines,
    Ignore,
    After,
    Renotify,
    Title,
    Url,
    SecurityDomain,
    // Smart-merged name lists.
    Groups,
    Teams,
    Contacts,
    Grants,
    Revokes,
    SecurityDomains,
    // Parameters, merged by name.
    Parameters,
    // Lists of records.
    NotificationEngines,
    Escalations,
    AccessControls,
    Notes,
    // Time periods.
    TimeRanges,
    Excludes,
}

/// How a key's values combine when a child inherits from a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The most specific non-empty value wins.
    Scalar,
    /// Merged field by field.
    Nested,
    /// Walk parent's items then child's: `-x` removes, `+x`/`x` adds.
    Smart,
    /// By name; a parameter keeps the position where it was first defined.
    Params,
    /// A child's non-empty list replaces the parent's.
    Replace,
    /// Records merged by their key field (access controls by security domain).
    Keyed(Key),
    /// Parent's items then child's.
    Append,
    /// Set union, parent's first.
    Union,
}

impl Key {
    pub fn rule(self) -> Rule {
        use Key::*;
        match self {
            CheckCommand | Schedule | State | Notifications | Notify | Initially => Rule::Nested,
            Groups | Teams | Contacts | Grants | Revokes | SecurityDomains => Rule::Smart,
            Parameters => Rule::Params,
            NotificationEngines | Escalations | Ignore => Rule::Replace,
            AccessControls => Rule::Keyed(SecurityDomain),
            Notes | TimeRanges => Rule::Append,
            Excludes => Rule::Union,
            _ => Rule::Scalar,
        }
    }

    /// The name an operator wrote: attribute or element name.
    pub fn xml_name(self) -> &'static str {
        use Key::*;
        match self {
            Summary => "summary",
            Description => "description",
            Address => "address",
            Location => "location",
            ResourcePool => "resource-pool",
            Category => "category",
            Application => "application",
            Engine => "engine",
            Executor => "executor",
            Condition => "condition",
            Depends => "depends",
            ExternalRef => "external-ref",
            Enabled => "enabled",
            Suppressed => "suppressed",
            FirstName => "first-name",
            FamilyName => "family-name",
            Email => "email",
            Pager => "pager",
            Mobile => "mobile",
            Phone => "phone",
            Im => "im",
            Username => "username",
            Password => "password",
            TimeZone => "time-zone",
            CheckCommand => "check-command",
            Schedule => "schedule",
            State => "state",
            Notifications => "notifications",
            Notify => "notify",
            Initially => "initially",
            Command => "command",
            Every => "every",
            RetryEvery => "retry-every",
            ChangingEvery => "changing-every",
            TimePeriod => "time-period",
            FailedAfter => "failed-after",
            RecoversAfter => "recovers-after",
            Status => "status",
            Output => "output",
            Alerts => "alerts",
            Recovery => "recovery",
            Acknowledge => "acknowledge",
            AllEngines => "all-engines",
            Ignore => "ignore",
            After => "after",
            Renotify => "renotify",
            Title => "title",
            Url => "url",
            SecurityDomain => "security-domain",
            Groups => "groups",
            Teams => "teams",
            Contacts => "contacts",
            Grants => "grants",
            Revokes => "revokes",
            SecurityDomains => "security-domains",
            Parameters => "parameter",
            NotificationEngines => "notification-engine",
            Escalations => "escalate",
            AccessControls => "access-control",
            Notes => "note",
            TimeRanges => "time-range",
            Excludes => "excludes",
        }
    }
}

/// One item of a name list, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub value: Str,
    pub origin: Origin,
}

/// A `<parameter name="" description="">value</parameter>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Str,
    pub description: Option<Str>,
    pub value: Str,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Str),
    Bool(bool),
    Count(u32),
    Interval(Duration),
    Status(Status),
    Statuses(Arc<[Status]>),
    Items(Arc<[Item]>),
    Params(Arc<[Param]>),
    Nested(Arc<Props>),
    Records(Arc<[Arc<Props>]>),
}

impl Value {
    /// "Non-empty" in the sense of the scalar rule: empty text does not override.
    fn is_empty(&self) -> bool {
        match self {
            Value::Text(s) => s.trim().is_empty(),
            Value::Items(i) => i.is_empty(),
            Value::Params(p) => p.is_empty(),
            Value::Records(r) => r.is_empty(),
            Value::Statuses(s) => s.is_empty(),
            Value::Nested(p) => p.is_empty(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub key: Key,
    pub value: Value,
    pub origin: Origin,
}

/// A sorted, duplicate-free bag of properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Props {
    items: Vec<Prop>,
}

impl Props {
    pub fn new() -> Self {
        Props { items: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Prop> {
        self.items.iter()
    }

    pub fn get(&self, key: Key) -> Option<&Prop> {
        self.items.binary_search_by_key(&key, |p| p.key).ok().map(|i| &self.items[i])
    }

    /// Sets a property, replacing an earlier value of the same key (the loader reports
    /// the duplicate; the last one written wins, as in XML attribute order).
    pub fn set(&mut self, key: Key, value: Value, origin: Origin) {
        let prop = Prop { key, value, origin };
        match self.items.binary_search_by_key(&key, |p| p.key) {
            Ok(i) => self.items[i] = prop,
            Err(i) => self.items.insert(i, prop),
        }
    }

    pub fn text(&self, key: Key) -> Option<&str> {
        match &self.get(key)?.value {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self, key: Key) -> Option<bool> {
        match self.get(key)?.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn count(&self, key: Key) -> Option<u32> {
        match self.get(key)?.value {
            Value::Count(n) => Some(n),
            _ => None,
        }
    }

    pub fn interval(&self, key: Key) -> Option<Duration> {
        match self.get(key)?.value {
            Value::Interval(d) => Some(d),
            _ => None,
        }
    }

    pub fn status(&self, key: Key) -> Option<Status> {
        match self.get(key)?.value {
            Value::Status(s) => Some(s),
            _ => None,
        }
    }

    pub fn statuses(&self, key: Key) -> &[Status] {
        match self.get(key).map(|p| &p.value) {
            Some(Value::Statuses(s)) => s,
            _ => &[],
        }
    }

    pub fn items(&self, key: Key) -> &[Item] {
        match self.get(key).map(|p| &p.value) {
            Some(Value::Items(i)) => i,
            _ => &[],
        }
    }

    pub fn params(&self) -> &[Param] {
        match self.get(Key::Parameters).map(|p| &p.value) {
            Some(Value::Params(p)) => p,
            _ => &[],
        }
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params().iter().find(|p| &*p.name == name)
    }

    pub fn nested(&self, key: Key) -> Option<&Props> {
        match &self.get(key)?.value {
            Value::Nested(p) => Some(p),
            _ => None,
        }
    }

    pub fn records(&self, key: Key) -> &[Arc<Props>] {
        match self.get(key).map(|p| &p.value) {
            Some(Value::Records(r)) => r,
            _ => &[],
        }
    }

    /// The child's (`self`'s) values over the parent's, per each key's [`Rule`].
    /// Both sides must already be normalised (see [`Props::normalise`]) except that
    /// `self` may still carry `+`/`-` prefixes in smart lists, which this consumes.
    pub fn merged_over(&self, parent: &Props) -> Props {
        let mut out = Vec::with_capacity(self.items.len().max(parent.items.len()) + 2);
        let (mut a, mut b) = (self.items.iter().peekable(), parent.items.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(c), Some(p)) if c.key == p.key => {
                    if let Some(m) = merge_value(c, p) {
                        out.push(m);
                    }
                    a.next();
                    b.next();
                }
                (Some(c), Some(p)) if c.key < p.key => {
                    out.extend(normalise_prop(c));
                    a.next();
                }
                (Some(_), Some(p)) => {
                    out.push((*p).clone());
                    b.next();
                }
                (Some(c), None) => {
                    out.extend(normalise_prop(c));
                    a.next();
                }
                (None, Some(p)) => {
                    out.push((*p).clone());
                    b.next();
                }
                (None, None) => break,
            }
        }
        Props { items: out }
    }

    /// What an object with no parents resolves to: smart-list prefixes stripped and
    /// removals applied, empty values dropped.
    pub fn normalise(&self) -> Props {
        Props { items: self.items.iter().filter_map(normalise_prop).collect() }
    }
}

fn normalise_prop(p: &Prop) -> Option<Prop> {
    let value = match (&p.value, p.key.rule()) {
        (Value::Items(items), Rule::Smart) => Value::Items(smart_merge(&[], items)),
        (Value::Nested(n), _) => Value::Nested(Arc::new(n.normalise())),
        (Value::Records(r), _) => Value::Records(r.iter().map(|x| Arc::new(x.normalise())).collect()),
        (v, Rule::Scalar) if v.is_empty() => return None,
        (v, _) => v.clone(),
    };
    Some(Prop { key: p.key, value, origin: p.origin })
}

/// Merges one key present on both sides. `None` when the result is empty.
fn merge_value(child: &Prop, parent: &Prop) -> Option<Prop> {
    let value = match (child.key.rule(), &child.value, &parent.value) {
        (Rule::Scalar, c, _) if c.is_empty() => return Some(parent.clone()),
        (Rule::Replace, c, _) if c.is_empty() => return Some(parent.clone()),
        (Rule::Replace, _, _) => return normalise_prop(child),
        (Rule::Nested, Value::Nested(c), Value::Nested(p)) => Value::Nested(Arc::new(c.merged_over(p))),
        (Rule::Smart, Value::Items(c), Value::Items(p)) => Value::Items(smart_merge(p, c)),
        (Rule::Params, Value::Params(c), Value::Params(p)) => Value::Params(merge_params(p, c)),
        (Rule::Append, Value::Items(c), Value::Items(p)) => {
            Value::Items(p.iter().chain(c.iter()).cloned().collect())
        }
        (Rule::Append, Value::Records(c), Value::Records(p)) => {
            Value::Records(p.iter().chain(c.iter()).cloned().collect())
        }
        (Rule::Union, Value::Items(c), Value::Items(p)) => {
            let mut v: Vec<Item> = p.to_vec();
            for i in c.iter() {
                if !v.iter().any(|x| x.value == i.value) {
                    v.push(i.clone());
                }
            }
            Value::Items(v.into())
        }
        (Rule::Keyed(k), Value::Records(c), Value::Records(p)) => Value::Records(merge_keyed(k, p, c)),
        // Scalars, and any value whose shape does not match its rule.
        _ => return normalise_prop(child),
    };
    Some(Prop { key: child.key, value, origin: child.origin })
}

/// Smart merge: walk the parent's items then the child's; `-x` removes x, `+x` or `x`
/// adds x (once); prefixes never survive.
pub fn smart_merge(parent: &[Item], child: &[Item]) -> Arc<[Item]> {
    let mut out: Vec<Item> = Vec::with_capacity(parent.len() + child.len());
    for item in parent.iter().chain(child.iter()) {
        let v = item.value.trim();
        if let Some(name) = v.strip_prefix('-') {
            let name = name.trim();
            out.retain(|x| &*x.value != name);
        } else {
            let name = v.strip_prefix('+').unwrap_or(v).trim();
            if !name.is_empty() && !out.iter().any(|x| &*x.value == name) {
                let value = if name.len() == item.value.len() { item.value.clone() } else { Str::from(name) };
                out.push(Item { value, origin: item.origin });
            }
        }
    }
    out.into()
}

/// Parameters by name: the most specific value wins, at the position where the
/// name was first defined in the least specific parent.
pub(crate) fn merge_params(parent: &[Param], child: &[Param]) -> Arc<[Param]> {
    let mut out: Vec<Param> = parent.to_vec();
    for p in child {
        match out.iter_mut().find(|x| x.name == p.name) {
            Some(slot) => {
                let description = p.description.clone().or_else(|| slot.description.clone());
                *slot = Param { description, ..p.clone() };
            }
            None => out.push(p.clone()),
        }
    }
    out.into()
}

fn merge_keyed(key: Key, parent: &[Arc<Props>], child: &[Arc<Props>]) -> Arc<[Arc<Props>]> {
    let mut out: Vec<Arc<Props>> = parent.to_vec();
    for c in child {
        let k = c.text(key);
        match out.iter_mut().find(|x| x.text(key) == k) {
            Some(slot) => *slot = Arc::new(c.merged_over(slot)),
            None => out.push(Arc::new(c.normalise())),
        }
    }
    out.into()
}
