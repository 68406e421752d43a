//! Element tree to raw objects: which attributes and elements each object type takes
//! (SEMANTICS §1), typed values, and warnings for what is unknown.

use std::sync::Arc;

use crate::diag::{did_you_mean, Diagnostic, Diagnostics};
use crate::interval::parse_interval;
use crate::load::tree::{Attr, Element};
use crate::props::{Item, Key, Origin, Param, Props, Str, Value};
use crate::raw::{Kind, ObjId, RawConfig, RawObject, RawSite};
use crate::span::{FileId, Span, Spanned};
use crate::status::Status;

/// The type of an attribute's or element's value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    Text,
    Bool,
    Count,
    Interval,
    Status,
    Statuses,
    List,
}

type Spec = (&'static str, Key, Ty);

const CHECK_ATTRS: &[Spec] =
    &[("enabled", Key::Enabled, Ty::Bool), ("suppressed", Key::Suppressed, Ty::Bool), ("groups", Key::Groups, Ty::List)];
const HOST_ATTRS: &[Spec] = &[
    ("address", Key::Address, Ty::Text),
    ("location", Key::Location, Ty::Text),
    ("resource-pool", Key::ResourcePool, Ty::Text),
];
const TAG_ATTRS: &[Spec] = &[("category", Key::Category, Ty::Text), ("application", Key::Application, Ty::Text)];
const COMMAND_ATTRS: &[Spec] = &[
    ("engine", Key::Engine, Ty::Text),
    ("executor", Key::Executor, Ty::Text),
    ("category", Key::Category, Ty::Text),
    ("application", Key::Application, Ty::Text),
];
const MEMBER_ATTRS: &[Spec] =
    &[("teams", Key::Teams, Ty::List), ("grants", Key::Grants, Ty::List), ("revokes", Key::Revokes, Ty::List)];
const PERIOD_ATTRS: &[Spec] = &[("excludes", Key::Excludes, Ty::List)];
const LOCATION_ATTRS: &[Spec] = &[("location", Key::Location, Ty::Text)];
const GROUP_ATTRS: &[Spec] = &[("groups", Key::Groups, Ty::List)];
const CREDENTIAL_FIELDS: &[Spec] = &[("username", Key::Username, Ty::Text), ("password", Key::Password, Ty::Text)];

const CHECK_TEXT: &[Spec] = &[("depends", Key::Depends, Ty::Text), ("external-ref", Key::ExternalRef, Ty::Text)];
const VIRTUAL_TEXT: &[Spec] = &[("condition", Key::Condition, Ty::Text)];
const CONTACT_TEXT: &[Spec] = &[
    ("first-name", Key::FirstName, Ty::Text),
    ("family-name", Key::FamilyName, Ty::Text),
    ("email", Key::Email, Ty::Text),
    ("pager", Key::Pager, Ty::Text),
    ("mobile", Key::Mobile, Ty::Text),
    ("phone", Key::Phone, Ty::Text),
    ("im", Key::Im, Ty::Text),
];

const SCHEDULE: &[Spec] = &[
    ("every", Key::Every, Ty::Interval),
    ("retry-every", Key::RetryEvery, Ty::Interval),
    ("changing-every", Key::ChangingEvery, Ty::Interval),
    ("time-period", Key::TimePeriod, Ty::Text),
];
const STATE: &[Spec] = &[("failed-after", Key::FailedAfter, Ty::Count), ("recovers-after", Key::RecoversAfter, Ty::Count)];
const INITIALLY: &[Spec] = &[("status", Key::Status, Ty::Status), ("output", Key::Output, Ty::Text)];
const NOTIFY: &[Spec] = &[("teams", Key::Teams, Ty::List), ("contacts", Key::Contacts, Ty::List)];
const NOTIFICATIONS: &[Spec] = &[
    ("enabled", Key::Enabled, Ty::Bool),
    ("alerts", Key::Alerts, Ty::Bool),
    ("recovery", Key::Recovery, Ty::Bool),
    ("acknowledge", Key::Acknowledge, Ty::Bool),
    ("all-engines", Key::AllEngines, Ty::Bool),
    ("time-period", Key::TimePeriod, Ty::Text),
    ("ignore", Key::Ignore, Ty::Statuses),
];
const ENGINE: &[Spec] = &[
    ("engine", Key::Engine, Ty::Text),
    ("enabled", Key::Enabled, Ty::Bool),
    ("alerts", Key::Alerts, Ty::Bool),
    ("recovery", Key::Recovery, Ty::Bool),
    ("acknowledge", Key::Acknowledge, Ty::Bool),
    ("time-period", Key::TimePeriod, Ty::Text),
    ("ignore", Key::Ignore, Ty::Statuses),
];
const ESCALATE: &[Spec] = &[
    ("after", Key::After, Ty::Interval),
    ("time-period", Key::TimePeriod, Ty::Text),
    ("ignore", Key::Ignore, Ty::Statuses),
    ("renotify", Key::Renotify, Ty::Bool),
];
const ACCESS: &[Spec] = &[
    ("security-domain", Key::SecurityDomain, Ty::Text),
    ("grants", Key::Grants, Ty::List),
    ("revokes", Key::Revokes, Ty::List),
];
const NOTE: &[Spec] = &[("title", Key::Title, Ty::Text), ("url", Key::Url, Ty::Text)];
const CHECK_COMMAND: &[Spec] = &[("command", Key::Command, Ty::Text)];
const COMMON_ATTRS: [&str; 4] = ["name", "extends", "template", "security-domains"];

fn attr_specs(kind: Kind) -> Vec<&'static [Spec]> {
    match kind {
        Kind::Host => vec![CHECK_ATTRS, HOST_ATTRS],
        Kind::Service | Kind::Trap | Kind::Resource => vec![CHECK_ATTRS, TAG_ATTRS],
        Kind::Cluster => vec![CHECK_ATTRS],
        Kind::Command => vec![COMMAND_ATTRS],
        Kind::Team | Kind::Contact => vec![MEMBER_ATTRS],
        Kind::TimePeriod => vec![PERIOD_ATTRS],
        Kind::Location => vec![LOCATION_ATTRS],
        Kind::Group => vec![GROUP_ATTRS],
        Kind::Credential => vec![CREDENTIAL_FIELDS],
        Kind::SecurityDomain => vec![],
    }
}

fn text_specs(kind: Kind) -> Vec<&'static [Spec]> {
    match kind {
        Kind::Host | Kind::Service | Kind::Trap => vec![CHECK_TEXT],
        Kind::Cluster | Kind::Resource => vec![CHECK_TEXT, VIRTUAL_TEXT],
        Kind::Contact => vec![CONTACT_TEXT],
        Kind::Credential => vec![CREDENTIAL_FIELDS],
        _ => vec![],
    }
}

/// Structured child elements a kind takes (besides summary, description, parameter).
fn structured(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Host => &[
            "check-command", "command", "schedule", "state", "notifications", "notify", "initially", "note",
            "service", "trap",
        ],
        Kind::Service => {
            &["check-command", "command", "schedule", "state", "notifications", "notify", "initially", "note"]
        }
        Kind::Trap => &["check-command", "command", "schedule", "state", "notifications", "notify", "initially", "note"],
        Kind::Cluster => &["state", "notifications", "notify", "initially", "note", "resource"],
        Kind::Resource => &["state", "notifications", "notify", "initially", "note"],
        Kind::Contact => &["notifications", "access-control"],
        Kind::Team => &["access-control"],
        Kind::TimePeriod => &["time-range", "time-zone"],
        _ => &[],
    }
}

/// Reads the element trees of one file into `cfg`.
pub(crate) struct Reader<'a> {
    pub cfg: &'a mut RawConfig,
    pub diags: &'a mut Diagnostics,
    pub file: FileId,
}

impl Reader<'_> {
    pub fn document(&mut self, roots: Vec<Element>, file_start: Span) {
        let Some(first) = roots.first() else {
            self.diags.push(
                Diagnostic::error(Some(file_start), "file has no root element")
                    .hint("a configuration file starts with `<bergamot site=\"example.com\">`"),
            );
            return;
        };
        let first_site = first.attr("site").map(|a| a.value.trim().to_string());
        for (i, root) in roots.iter().enumerate() {
            if root.name != "bergamot" {
                self.diags.push(
                    Diagnostic::error(Some(root.span), format!("root element must be `<bergamot>`, found `<{}>`", root.name))
                        .hint("a configuration file starts with `<bergamot site=\"example.com\">`"),
                );
                continue;
            }
            let site = root.attr("site").map(|a| a.value.trim().to_string()).unwrap_or_default();
            if site.is_empty() {
                self.diags.push(
                    Diagnostic::error(Some(root.span), "`<bergamot>` has no `site` attribute")
                        .hint("name the site: `<bergamot site=\"example.com\">`"),
                );
                continue;
            }
            if i > 0 {
                let msg = if Some(&site) != first_site.as_ref() {
                    format!(
                        "this file mixes two sites: `{}` and `{site}`",
                        first_site.as_deref().unwrap_or("?")
                    )
                } else {
                    format!("second `<bergamot>` root for site `{site}` in one file")
                };
                self.diags.push(
                    Diagnostic::error(Some(root.span), msg).hint("put each site's configuration in its own files"),
                );
                continue;
            }
            self.site(root, &site);
        }
    }

    fn site(&mut self, root: &Element, name: &str) {
        let site_idx = match self.cfg.site_index(name) {
            Some(i) => i,
            None => {
                self.cfg.sites.push(RawSite { name: Str::from(name), span: root.span, ..Default::default() });
                self.cfg.sites.len() - 1
            }
        };
        self.cfg.sites[site_idx].files.push(self.file);
        for a in &root.attrs {
            if a.name != "site" {
                self.unknown_attr(a, "bergamot", &["site"], name);
            }
        }
        // Site-level values have no object; they are attributed to a pseudo-origin.
        let origin_obj = ObjId::SITE;
        let mut props = std::mem::take(&mut self.cfg.sites[site_idx].props);
        let mut params: Vec<Param> = props.params().to_vec();
        for child in &root.children {
            let origin = Origin { obj: origin_obj, span: child.span };
            match child.name.as_str() {
                "summary" => props.set(Key::Summary, text_value(child), origin),
                "description" => props.set(Key::Description, text_value(child), origin),
                "parameter" => self.parameter(child, &mut params, origin_obj, name),
                "time-zone" => self.time_zone(child, &mut props, origin_obj, name),
                "bergamot" => self.diags.push(
                    Diagnostic::error(Some(child.span), "`<bergamot>` cannot be nested: this file mixes sites")
                        .hint("put each site's configuration in its own files"),
                ),
                other => match Kind::from_element(other) {
                    Some(kind) => {
                        let id = self.object(child, kind, site_idx as u32, None, name);
                        self.cfg.sites[site_idx].objects.push(id);
                    }
                    None => {
                        let known: Vec<&str> = Kind::ALL
                            .iter()
                            .map(|k| k.element())
                            .chain(["summary", "description", "parameter", "time-zone"])
                            .collect();
                        self.unknown_element(child, "bergamot", &known, name);
                    }
                },
            }
        }
        if !params.is_empty() {
            let origin = Origin { obj: origin_obj, span: params[0].origin.span };
            props.set(Key::Parameters, Value::Params(params.into()), origin);
        }
        self.cfg.sites[site_idx].props = props;
    }

    fn object(&mut self, el: &Element, kind: Kind, site: u32, container: Option<ObjId>, site_name: &str) -> ObjId {
        let id = ObjId(self.cfg.objects.len() as u32);
        let name = el.attr("name").map(|a| Spanned::new(Str::from(a.value.trim()), a.value_span));
        let path = match container {
            Some(c) => format!("{}/{kind}/{}", self.cfg.path(c), el.attr("name").map_or("", |a| a.value.trim())),
            None => format!("{site_name}/{kind}/{}", el.attr("name").map_or("", |a| a.value.trim())),
        };
        self.cfg.objects.push(RawObject {
            kind,
            site,
            file: self.file,
            span: el.span,
            name,
            extends: Vec::new(),
            template: None,
            container,
            nested: Vec::new(),
            props: Props::new(),
        });
        let mut props = Props::new();
        let mut extends = Vec::new();
        let mut template = None;
        let specs = attr_specs(kind);
        for a in &el.attrs {
            let origin = Origin { obj: id, span: a.value_span };
            match a.name.as_str() {
                "name" => {
                    if a.value.trim().is_empty() {
                        self.diags.push(Diagnostic::error(Some(a.span), format!("{kind} has an empty name")).object(&path));
                    }
                }
                "extends" => extends = split_csv(&a.value, a.value_span).collect(),
                "template" => match parse_bool(&a.value) {
                    Ok(b) => template = Some(Spanned::new(b, a.value_span)),
                    Err(m) => self.bad_value(a.value_span, "template", &m, &path),
                },
                "security-domains" => props.set(Key::SecurityDomains, items(&a.value, a.value_span, id), origin),
                n => match find_spec(&specs, n) {
                    Some(spec) => self.typed(&mut props, spec, &a.value, a.value_span, id, &path),
                    None => {
                        let mut known: Vec<&str> = COMMON_ATTRS.to_vec();
                        known.extend(specs.iter().flat_map(|s| s.iter().map(|x| x.0)));
                        self.unknown_attr(a, kind.element(), &known, &path);
                    }
                },
            }
        }
        if el.attr("name").is_none() {
            self.diags.push(
                Diagnostic::error(Some(el.span), format!("{kind} has no `name` attribute"))
                    .object(&path)
                    .hint(format!("every {kind} needs a name: `<{kind} name=\"…\">`")),
            );
        }
        let texts = text_specs(kind);
        let mut params: Vec<Param> = Vec::new();
        let mut ranges: Vec<Item> = Vec::new();
        let mut notes: Vec<Arc<Props>> = Vec::new();
        let mut nested = Vec::new();
        for child in &el.children {
            let origin = Origin { obj: id, span: child.span };
            let cname = child.name.as_str();
            match cname {
                "summary" => props.set(Key::Summary, text_value(child), Origin { obj: id, span: child.text_span }),
                "description" => {
                    props.set(Key::Description, text_value(child), Origin { obj: id, span: child.text_span })
                }
                "parameter" => self.parameter(child, &mut params, id, &path),
                _ if structured(kind).contains(&cname) => match cname {
                    "check-command" => {
                        let p = self.nested_props(child, CHECK_COMMAND, id, &path);
                        props.set(Key::CheckCommand, Value::Nested(Arc::new(p)), origin);
                    }
                    "command" => self.legacy_command(child, &mut props, id, &path),
                    "schedule" if kind == Kind::Trap => self.diags.push(
                        Diagnostic::warning(Some(child.span), "traps are passive and never scheduled: `<schedule>` is ignored")
                            .object(&path),
                    ),
                    "schedule" => self.set_nested(&mut props, Key::Schedule, child, SCHEDULE, id, &path),
                    "state" => self.set_nested(&mut props, Key::State, child, STATE, id, &path),
                    "initially" => self.set_nested(&mut props, Key::Initially, child, INITIALLY, id, &path),
                    "notify" => self.set_nested(&mut props, Key::Notify, child, NOTIFY, id, &path),
                    "notifications" => self.set_nested(&mut props, Key::Notifications, child, NOTIFICATIONS, id, &path),
                    "note" => {
                        let mut p = self.nested_props(child, NOTE, id, &path);
                        if !child.trimmed_text().is_empty() {
                            p.set(Key::Description, text_value(child), Origin { obj: id, span: child.text_span });
                        }
                        notes.push(Arc::new(p));
                    }
                    "access-control" => {
                        let p = self.nested_props(child, ACCESS, id, &path);
                        let mut list: Vec<Arc<Props>> = props.records(Key::AccessControls).to_vec();
                        list.push(Arc::new(p));
                        props.set(Key::AccessControls, Value::Records(list.into()), origin);
                    }
                    "time-range" => {
                        ranges.push(Item { value: Str::from(child.trimmed_text()), origin: Origin { obj: id, span: child.text_span } })
                    }
                    "time-zone" => self.time_zone(child, &mut props, id, &path),
                    "service" | "trap" | "resource" => {
                        let nk = Kind::from_element(cname).unwrap_or(Kind::Service);
                        let nid = self.object(child, nk, site, Some(id), site_name);
                        nested.push(nid);
                    }
                    _ => {}
                },
                _ => match find_spec(&texts, cname) {
                    Some(spec) => self.typed(&mut props, spec, child.trimmed_text(), child.text_span, id, &path),
                    None => {
                        let mut known: Vec<&str> = vec!["summary", "description", "parameter"];
                        known.extend(structured(kind));
                        known.extend(texts.iter().flat_map(|s| s.iter().map(|x| x.0)));
                        self.unknown_element(child, kind.element(), &known, &path);
                    }
                },
            }
        }
        if !params.is_empty() {
            let span = params[0].origin.span;
            props.set(Key::Parameters, Value::Params(params.into()), Origin { obj: id, span });
        }
        if !ranges.is_empty() {
            let span = ranges[0].origin.span;
            props.set(Key::TimeRanges, Value::Items(ranges.into()), Origin { obj: id, span });
        }
        if !notes.is_empty() {
            props.set(Key::Notes, Value::Records(notes.into()), Origin { obj: id, span: el.span });
        }
        let o = &mut self.cfg.objects[id.0 as usize];
        o.props = props;
        o.extends = extends;
        o.template = template;
        o.nested = nested;
        id
    }

    /// `<command extends="x"/>` inside a check, as in the guide's first example: the
    /// original form of `<check-command command="x"/>`.
    fn legacy_command(&mut self, el: &Element, props: &mut Props, id: ObjId, path: &str) {
        let Some(a) = el.attr("extends").or_else(|| el.attr("command")) else {
            self.diags.push(
                Diagnostic::error(Some(el.span), "`<command>` inside a check needs `extends=\"COMMAND\"`")
                    .object(path)
                    .hint("write `<check-command command=\"…\"/>`"),
            );
            return;
        };
        self.diags.push(
            Diagnostic::warning(Some(el.span), "`<command extends=…>` inside a check is the old form of `<check-command>`")
                .object(path)
                .hint(format!("write `<check-command command=\"{}\"/>`", a.value.trim())),
        );
        let origin = Origin { obj: id, span: a.value_span };
        let mut p = Props::new();
        p.set(Key::Command, Value::Text(Str::from(a.value.trim())), origin);
        let mut params = Vec::new();
        for c in &el.children {
            if c.name == "parameter" {
                self.parameter(c, &mut params, id, path);
            } else {
                self.unknown_element(c, "command", &["parameter"], path);
            }
        }
        if !params.is_empty() {
            p.set(Key::Parameters, Value::Params(params.into()), origin);
        }
        props.set(Key::CheckCommand, Value::Nested(Arc::new(p)), Origin { obj: id, span: el.span });
    }

    fn set_nested(&mut self, props: &mut Props, key: Key, el: &Element, specs: &[Spec], id: ObjId, path: &str) {
        let p = self.nested_props(el, specs, id, path);
        let origin = Origin { obj: id, span: el.span };
        // Two of the same element in one object merge, the later over the earlier.
        let merged = match props.nested(key) {
            Some(prev) => p.merged_over(prev),
            None => p,
        };
        props.set(key, Value::Nested(Arc::new(merged)), origin);
    }

    /// The attributes and children of a nested element such as `<schedule>`.
    fn nested_props(&mut self, el: &Element, specs: &[Spec], id: ObjId, path: &str) -> Props {
        let mut props = Props::new();
        let all = [specs];
        for a in &el.attrs {
            match find_spec(&all, &a.name) {
                Some(spec) => self.typed(&mut props, spec, &a.value, a.value_span, id, path),
                None => {
                    let known: Vec<&str> = specs.iter().map(|s| s.0).collect();
                    self.unknown_attr(a, &el.name, &known, path);
                }
            }
        }
        let mut params = Vec::new();
        let mut engines: Vec<Arc<Props>> = Vec::new();
        let mut escalations: Vec<Arc<Props>> = Vec::new();
        for c in &el.children {
            match (el.name.as_str(), c.name.as_str()) {
                ("check-command", "parameter") => self.parameter(c, &mut params, id, path),
                ("notifications", "notification-engine") => {
                    engines.push(Arc::new(self.nested_props(c, ENGINE, id, path)));
                }
                ("notifications", "escalate") => {
                    escalations.push(Arc::new(self.nested_props(c, ESCALATE, id, path)));
                }
                ("escalate", "notify") => {
                    let p = self.nested_props(c, NOTIFY, id, path);
                    props.set(Key::Notify, Value::Nested(Arc::new(p)), Origin { obj: id, span: c.span });
                }
                (parent, _) => {
                    let known: &[&str] = match parent {
                        "check-command" => &["parameter"],
                        "notifications" => &["notification-engine", "escalate"],
                        "escalate" => &["notify"],
                        _ => &[],
                    };
                    self.unknown_element(c, parent, known, path);
                }
            }
        }
        let origin = Origin { obj: id, span: el.span };
        if !params.is_empty() {
            props.set(Key::Parameters, Value::Params(params.into()), origin);
        }
        if !engines.is_empty() {
            props.set(Key::NotificationEngines, Value::Records(engines.into()), origin);
        }
        if !escalations.is_empty() {
            props.set(Key::Escalations, Value::Records(escalations.into()), origin);
        }
        props
    }

    fn parameter(&mut self, el: &Element, params: &mut Vec<Param>, id: ObjId, path: &str) {
        let mut name = None;
        let mut description = None;
        let mut value_attr: Option<&Attr> = None;
        for a in &el.attrs {
            match a.name.as_str() {
                "name" => name = Some(a),
                "description" => description = Some(Str::from(a.value.trim())),
                "value" => value_attr = Some(a),
                _ => self.unknown_attr(a, "parameter", &["name", "description", "value"], path),
            }
        }
        let Some(name) = name.filter(|n| !n.value.trim().is_empty()) else {
            self.diags.push(
                Diagnostic::error(Some(el.span), "`<parameter>` has no name")
                    .object(path)
                    .hint("write `<parameter name=\"…\">value</parameter>`"),
            );
            return;
        };
        // `value=` wins over the text when it is non-empty.
        let (value, span) = match value_attr.filter(|a| !a.value.is_empty()) {
            Some(a) => (a.value.as_str(), a.value_span),
            None => (el.trimmed_text(), el.text_span),
        };
        let param =
            Param { name: Str::from(name.value.trim()), description, value: Str::from(value), origin: Origin { obj: id, span } };
        match params.iter_mut().find(|p| p.name == param.name) {
            Some(prev) => {
                self.diags.push(
                    Diagnostic::warning(Some(el.span), format!("parameter `{}` is set twice; the later value wins", param.name))
                        .object(path),
                );
                *prev = param;
            }
            None => params.push(param),
        }
        for c in &el.children {
            self.unknown_element(c, "parameter", &[], path);
        }
    }

    fn time_zone(&mut self, el: &Element, props: &mut Props, id: ObjId, path: &str) {
        match el.attr("id").filter(|a| !a.value.trim().is_empty()) {
            Some(a) => {
                props.set(Key::TimeZone, Value::Text(Str::from(a.value.trim())), Origin { obj: id, span: a.value_span })
            }
            None if !el.trimmed_text().is_empty() => props.set(
                Key::TimeZone,
                Value::Text(Str::from(el.trimmed_text())),
                Origin { obj: id, span: el.text_span },
            ),
            None => self.diags.push(
                Diagnostic::error(Some(el.span), "`<time-zone>` needs an `id`")
                    .object(path)
                    .hint("write `<time-zone id=\"Europe/London\"/>`"),
            ),
        }
    }

    fn typed(&mut self, props: &mut Props, spec: &Spec, text: &str, span: Span, id: ObjId, path: &str) {
        let (xml, key, ty) = *spec;
        let origin = Origin { obj: id, span };
        // A bad item of a list is reported where that item is written.
        let mut span = span;
        let value = match ty {
            Ty::Text => Ok(Value::Text(Str::from(text.trim()))),
            Ty::List => Ok(items(text, span, id)),
            Ty::Bool => parse_bool(text).map(Value::Bool),
            Ty::Count => match text.trim().parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Value::Count(n)),
                _ => Err(format!("expected a whole number of at least 1, found `{}`", text.trim())),
            },
            Ty::Interval => parse_interval(text).map(Value::Interval),
            Ty::Status => text.parse::<Status>().map(Value::Status).map_err(|e| e.to_string()),
            Ty::Statuses => split_csv(text, span)
                .map(|s| {
                    s.value.parse::<Status>().map_err(|e| {
                        span = s.span;
                        e.to_string()
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Value::Statuses(v.into())),
        };
        match value {
            Ok(v) => props.set(key, v, origin),
            Err(m) => self.bad_value(span, xml, &m, path),
        }
    }

    fn bad_value(&mut self, span: Span, what: &str, message: &str, path: &str) {
        self.diags.push(Diagnostic::error(Some(span), format!("bad `{what}`: {message}")).object(path));
    }

    fn unknown_attr(&mut self, a: &Attr, element: &str, known: &[&str], path: &str) {
        let mut d = Diagnostic::warning(Some(a.span), format!("unknown attribute `{}` on `<{element}>` is ignored", a.name))
            .object(path);
        if let Some(h) = did_you_mean(&a.name, known.iter().copied()) {
            d = d.hint(h);
        }
        self.diags.push(d);
    }

    fn unknown_element(&mut self, el: &Element, parent: &str, known: &[&str], path: &str) {
        let mut d =
            Diagnostic::warning(Some(el.span), format!("unknown element `<{}>` in `<{parent}>` is ignored", el.name))
                .object(path);
        if let Some(h) = did_you_mean(&el.name, known.iter().copied()) {
            d = d.hint(h);
        }
        self.diags.push(d);
    }
}

fn find_spec<'s>(specs: &[&'s [Spec]], name: &str) -> Option<&'s Spec> {
    specs.iter().flat_map(|s| s.iter()).find(|s| s.0 == name)
}

fn text_value(el: &Element) -> Value {
    Value::Text(Str::from(el.trimmed_text()))
}

pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        other => Err(format!("expected `yes` or `no`, found `{other}`")),
    }
}

/// Splits a comma-separated attribute, trimming items and dropping empty ones; each
/// item's span points at its first character.
pub fn split_csv(text: &str, span: Span) -> impl Iterator<Item = Spanned<Str>> + '_ {
    let mut offset = 0usize;
    text.split(',').filter_map(move |part| {
        let start = offset;
        offset += part.chars().count() + 1;
        let lead = part.chars().take_while(|c| c.is_whitespace()).count();
        let t = part.trim();
        (!t.is_empty()).then(|| Spanned::new(Str::from(t), span.shifted(start + lead)))
    })
}

fn items(text: &str, span: Span, id: ObjId) -> Value {
    Value::Items(split_csv(text, span).map(|s| Item { value: s.value, origin: Origin { obj: id, span: s.span } }).collect())
}
