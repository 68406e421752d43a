//! "Where did this value come from?": a resolved object flattened into values, each
//! with the object and file position that wrote it (`bergamot-cli config show`, and
//! later the UI's configuration view).

use std::sync::Arc;

use serde::Serialize;

use crate::model::{Model, Site};
use crate::props::{Key, Origin, Props, Value};
use crate::raw::{Kind, ObjId};
use crate::resolve::Resolved;

/// Where a value was written.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `site/host/generic-host`, or the site name for site-level values.
    pub object: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Dotted property path: `schedule.every`, `notifications.notification-engine[0].engine`.
    pub key: String,
    pub value: String,
    pub from: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub name: String,
    /// As written (after inheritance).
    pub value: String,
    /// After `#{…}` evaluation for this check.
    pub evaluated: String,
    pub from: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub site: String,
    pub kind: Kind,
    pub name: String,
    pub path: String,
    pub template: bool,
    pub defined_at: Source,
    /// Direct parents, most specific first.
    pub extends: Vec<String>,
    pub values: Vec<Entry>,
    /// The command this check runs and its evaluated parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Nested services, traps or resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nested: Vec<Description>,
}

/// Describes the object `kind name` of `site`. For services, traps and resources,
/// `name` may be `container/name` to show a real nested check (`web1/load`).
pub fn describe(model: &Model, site: &Site, kind: Kind, name: &str) -> Result<Description, String> {
    if let Some(r) = site.get(kind, name) {
        let container = None;
        return Ok(one(model, site, r, container, &site.name.to_string()));
    }
    if kind.is_nested_kind() {
        if let Some((cname, nname)) = name.split_once('/') {
            let ckind = if kind == Kind::Resource { Kind::Cluster } else { Kind::Host };
            if let Some(c) = site.get(ckind, cname) {
                if let Some(n) = c.nested_named(kind, nname) {
                    let base = format!("{}/{}/{}", site.name, ckind, c.name);
                    return Ok(one(model, site, n, Some(c), &base));
                }
            }
        }
    }
    let mut msg = format!("no {kind} named `{name}` in site `{}`", site.name);
    if let Some(h) = crate::diag::did_you_mean(name, site.table(kind).names()) {
        msg.push_str("; ");
        msg.push_str(&h);
    } else if kind.is_nested_kind() {
        msg.push_str(&format!(
            "; a nested {kind} is named `{}/NAME`",
            if kind == Kind::Resource { "CLUSTER" } else { "HOST" }
        ));
    }
    Err(msg)
}

fn one(model: &Model, site: &Site, r: &Arc<Resolved>, container: Option<&Arc<Resolved>>, base: &str) -> Description {
    let path = format!("{base}/{}/{}", r.kind, r.name);
    let mut values = Vec::new();
    flatten(model, "", &r.props, &mut values);
    let host = match r.kind {
        Kind::Host => Some(r),
        Kind::Service | Kind::Trap => container,
        _ => None,
    };
    let (command, parameters) = match crate::view::command_parameters(site, r, host) {
        Some((cmd, params)) => (
            Some(cmd),
            params
                .into_iter()
                .map(|p| Parameter {
                    name: p.name.to_string(),
                    value: mask(&p.name, &p.value),
                    evaluated: mask(&p.name, &p.evaluated),
                    from: source(model, p.origin),
                })
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    let nested = r.nested.iter().map(|n| one(model, site, n, Some(r), &path)).collect();
    Description {
        site: site.name.to_string(),
        kind: r.kind,
        name: r.name.to_string(),
        path,
        template: r.template && container.is_none(),
        defined_at: source(model, Origin { obj: r.obj, span: model.raw.object(r.obj).span }),
        extends: r.parents.iter().map(|&p| model.raw.object(p).name().to_string()).collect(),
        values,
        command,
        parameters,
        nested,
    }
}

fn source(model: &Model, o: Origin) -> Source {
    let object = if o.obj == ObjId::SITE {
        String::from("<site>")
    } else {
        model.raw.path(o.obj)
    };
    Source {
        object,
        file: model.sources.path(o.span.file).display().to_string(),
        line: o.span.line,
        column: o.span.col,
    }
}

/// Secrets are never shown (parameters named like passwords, credential passwords).
fn mask(name: &str, value: &str) -> String {
    let n = name.to_ascii_lowercase();
    let secret = ["password", "secret", "passphrase", "community", "snmp_auth", "snmp_priv"].iter().any(|s| n.contains(s));
    if secret && !value.is_empty() && !value.contains("#{") { String::from("********") } else { value.to_string() }
}

fn flatten(model: &Model, prefix: &str, props: &Props, out: &mut Vec<Entry>) {
    for p in props.iter() {
        let key = format!("{prefix}{}", p.key.xml_name());
        let mut push = |key: String, value: String, origin: Origin| {
            out.push(Entry { key, value, from: source(model, origin) });
        };
        match &p.value {
            Value::Text(t) if p.key == Key::Password => push(key, "********".into(), p.origin),
            Value::Text(t) => push(key, t.to_string(), p.origin),
            Value::Bool(b) => push(key, if *b { "yes" } else { "no" }.into(), p.origin),
            Value::Count(n) => push(key, n.to_string(), p.origin),
            Value::Interval(d) => push(key, crate::view::format_interval(*d), p.origin),
            Value::Status(s) => push(key, s.to_string(), p.origin),
            Value::Statuses(s) => {
                push(key, s.iter().map(|s| s.as_str().to_ascii_lowercase()).collect::<Vec<_>>().join(", "), p.origin)
            }
            Value::Items(items) => {
                for i in items.iter() {
                    push(key.clone(), i.value.to_string(), i.origin);
                }
            }
            Value::Params(params) => {
                for pa in params.iter() {
                    push(format!("{prefix}parameter.{}", pa.name), mask(&pa.name, &pa.value), pa.origin);
                }
            }
            Value::Nested(n) => flatten(model, &format!("{key}."), n, out),
            Value::Records(rs) => {
                for (i, r) in rs.iter().enumerate() {
                    flatten(model, &format!("{key}[{i}]."), r, out);
                }
            }
        }
    }
}
