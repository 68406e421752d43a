//! Typed views over resolved objects (defaults of SEMANTICS §1 applied), and a
//! check's evaluated command parameters (§4).

use std::sync::Arc;
use std::time::Duration;

use crate::expr::{self, Env, Template};
use crate::model::Site;
use crate::props::{merge_params, Key, Origin, Param, Props, Str};
use crate::raw::Kind;
use crate::resolve::Resolved;
use crate::status::Status;

/// `<schedule>` with its defaults: every 5m, retry-every 1m, changing-every =
/// retry-every.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub every: Duration,
    pub retry_every: Duration,
    pub changing_every: Duration,
    pub time_period: Option<Str>,
}

pub fn schedule(props: &Props) -> Schedule {
    let s = props.nested(Key::Schedule);
    let get = |k| s.and_then(|s| s.interval(k));
    let every = get(Key::Every).unwrap_or(Duration::from_secs(300));
    let retry_every = get(Key::RetryEvery).unwrap_or(Duration::from_secs(60));
    Schedule {
        every,
        retry_every,
        changing_every: get(Key::ChangingEvery).unwrap_or(retry_every),
        time_period: s.and_then(|s| s.text(Key::TimePeriod)).map(Str::from),
    }
}

/// `<state failed-after recovers-after>`, defaults 3 and 3.
pub fn thresholds(props: &Props) -> (u32, u32) {
    let s = props.nested(Key::State);
    let get = |k| s.and_then(|s| s.count(k)).unwrap_or(3);
    (get(Key::FailedAfter), get(Key::RecoversAfter))
}

/// `<initially status output>`, default PENDING with no output.
pub fn initially(props: &Props) -> (Status, String) {
    let s = props.nested(Key::Initially);
    (
        s.and_then(|s| s.status(Key::Status)).unwrap_or(Status::Pending),
        s.and_then(|s| s.text(Key::Output)).unwrap_or("").to_string(),
    )
}

/// Summary, defaulting to the name.
pub fn summary(r: &Resolved) -> &str {
    r.props.text(Key::Summary).unwrap_or(&r.name)
}

/// A host's address, defaulting to its name.
pub fn address(r: &Resolved) -> &str {
    r.props.text(Key::Address).unwrap_or(&r.name)
}

/// A check's `category` and `application` tags: its own (after inheritance), each
/// else the one of the command it runs (after command inheritance). The guide:
/// "These tags will default to what is defined by the command which is used to
/// check this service"; a service, trap or resource may override them.
pub fn tags<'a>(site: &'a Site, check: &'a Resolved) -> (Option<&'a str>, Option<&'a str>) {
    let command = check
        .props
        .nested(Key::CheckCommand)
        .and_then(|cc| cc.text(Key::Command))
        .and_then(|name| site.get(Kind::Command, name));
    let tag = |key| check.props.text(key).or_else(|| command.and_then(|c| c.props.text(key)));
    (tag(Key::Category), tag(Key::Application))
}

pub fn format_interval(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        _ if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        _ if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        _ if ms % 1000 == 0 => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// A command parameter of a check, as written and as evaluated.
#[derive(Debug, Clone)]
pub struct EvaluatedParam {
    pub name: Str,
    pub value: Str,
    pub evaluated: String,
    pub origin: Origin,
}

/// The command a check (or command object itself) runs and its parameters: the
/// command's (after command inheritance), then the check's `<check-command>`
/// parameters over them by name, evaluated top to bottom for this check. `host` is
/// the host the check belongs to (itself for a host).
pub fn command_parameters(
    site: &Site,
    check: &Arc<Resolved>,
    host: Option<&Arc<Resolved>>,
) -> Option<(String, Vec<EvaluatedParam>)> {
    let (name, params): (String, Arc<[Param]>) = if check.kind == Kind::Command {
        (check.name.to_string(), check.props.params().into())
    } else {
        let cc = check.props.nested(Key::CheckCommand)?;
        let name = cc.text(Key::Command)?;
        let base = site.get(Kind::Command, name).map(|c| c.props.params()).unwrap_or(&[]);
        (name.to_string(), merge_params(base, cc.params()))
    };
    let templates: Vec<Template> = params
        .iter()
        .map(|p| expr::parse_template(&p.value).unwrap_or_else(|_| Template::literal(p.value.to_string())))
        .collect();
    let refs: Vec<(&str, &Template)> = params.iter().map(|p| &*p.name).zip(templates.iter()).collect();
    let env = CheckEnv { site, this: check, host };
    let evaluated = expr::evaluate_parameters(&refs, &env);
    let out = params
        .iter()
        .zip(evaluated)
        .map(|(p, (_, v))| EvaluatedParam { name: p.name.clone(), value: p.value.clone(), evaluated: v, origin: p.origin })
        .collect();
    Some((name, out))
}

/// What `#{…}` sees while a check is built.
struct CheckEnv<'a> {
    site: &'a Site,
    this: &'a Arc<Resolved>,
    host: Option<&'a Arc<Resolved>>,
}

#[derive(Debug, Clone)]
enum Obj<'a> {
    Object(&'a Resolved),
    Site,
}

type V<'a> = expr::Value<Obj<'a>>;

fn text<'a>(s: Option<&str>) -> V<'a> {
    s.map_or(expr::Value::Null, |s| expr::Value::Str(s.to_string()))
}

impl<'a> CheckEnv<'a> {
    fn location(&self, r: &Resolved) -> Option<&'a Arc<Resolved>> {
        self.site.get(Kind::Location, r.props.text(Key::Location)?)
    }
}

impl<'a> Env for CheckEnv<'a> {
    type Obj = Obj<'a>;

    fn root(&self, name: &str) -> Option<V<'a>> {
        let this = &**self.this;
        let obj = |r: &'a Resolved| Some(expr::Value::Obj(Obj::Object(r)));
        match name {
            "this" => obj(this),
            "site" => Some(expr::Value::Obj(Obj::Site)),
            "host" => self.host.map(|h| expr::Value::Obj(Obj::Object(&**h))).or(Some(expr::Value::Null)),
            "location" => Some(
                self.host.and_then(|h| self.location(h)).map_or(expr::Value::Null, |l| expr::Value::Obj(Obj::Object(&**l))),
            ),
            "service" | "trap" | "cluster" | "resource" => {
                Some(if this.kind.element() == name { expr::Value::Obj(Obj::Object(this)) } else { expr::Value::Null })
            }
            _ => None,
        }
    }

    fn property(&self, obj: &Obj<'a>, name: &str) -> V<'a> {
        let r = match obj {
            Obj::Site => {
                return match name {
                    "name" => expr::Value::Str(self.site.name.to_string()),
                    "summary" => text(Some(self.site.props.text(Key::Summary).unwrap_or(&self.site.name))),
                    "description" => text(self.site.props.text(Key::Description)),
                    _ => expr::Value::Null,
                };
            }
            Obj::Object(r) => *r,
        };
        match name {
            "name" => expr::Value::Str(r.name.to_string()),
            "summary" => text(Some(summary(r))),
            "address" if r.kind == Kind::Host => text(Some(address(r))),
            "location" => self.location(r).map_or(expr::Value::Null, |l| expr::Value::Obj(Obj::Object(&**l))),
            other => {
                let key = [
                    Key::Description,
                    Key::Address,
                    Key::Category,
                    Key::Application,
                    Key::Engine,
                    Key::ResourcePool,
                    Key::Username,
                    Key::Password,
                    Key::Email,
                    Key::Pager,
                    Key::Mobile,
                    Key::Phone,
                    Key::Im,
                    Key::FirstName,
                    Key::FamilyName,
                ]
                .into_iter()
                .find(|k| k.xml_name() == other || camel(k.xml_name()) == other);
                text(key.and_then(|k| r.props.text(k)))
            }
        }
    }

    fn get_parameter(&self, obj: &Obj<'a>, name: &str) -> V<'a> {
        match obj {
            Obj::Site => text(self.site.parameter(name)),
            Obj::Object(r) => text(r.props.param(name).map(|p| &*p.value)),
        }
    }

    fn global(&self, name: &str) -> V<'a> {
        text(self.site.parameter(name))
    }

    /// The credential named by the host's parameter `credentials_KIND`, else its
    /// location's, else the credential `default_KIND`.
    fn credentials(&self, kind: &str) -> V<'a> {
        let param = format!("credentials_{kind}");
        let named = self
            .host
            .and_then(|h| h.props.param(&param).map(|p| p.value.to_string()))
            .or_else(|| self.host.and_then(|h| self.location(h)).and_then(|l| l.props.param(&param)).map(|p| p.value.to_string()))
            .unwrap_or_else(|| format!("default_{kind}"));
        self.site.get(Kind::Credential, &named).map_or(expr::Value::Null, |c| expr::Value::Obj(Obj::Object(&**c)))
    }
}

/// `first-name` → `firstName`.
fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for c in s.chars() {
        if c == '-' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}
