//! Evaluating templates against the model: the [`Env`] the model implements, the
//! [`Value`]s expressions produce, the top-to-bottom parameter rule ([`Scope`],
//! [`evaluate_parameters`]) and rendering to text.
//!
//! Not parsing. Evaluation never fails and never panics: a missing object, an
//! unknown property, an operator applied to the wrong kind of value or a text longer
//! than [`MAX_TEXT`] all give null, which renders as empty text. Recursion follows
//! the tree, whose depth the parser capped.

use std::cmp::Ordering;
use std::fmt;

use super::ast::{BinaryOp, Expr, Function, Method, Part, Reference, Template, UnaryOp};

/// Longest text a value may hold, in bytes. Templates can repeat earlier parameters,
/// so without a cap a few lines of configuration could double a string per
/// parameter until memory runs out; 1 MiB is far above any real command line
/// (Linux refuses a single argument over 128 KiB anyway).
pub const MAX_TEXT: usize = 1 << 20;

/// What expressions can see of the model. The model implements this per check being
/// built; tests use a small fake.
pub trait Env {
    /// A handle on a model object (host, location, credential…).
    type Obj: Clone;

    /// One of [`super::ROOTS`]; `None` (or `Some(Value::Null)`) when there is no such
    /// object for this check (`service` while evaluating a host's check).
    fn root(&self, name: &str) -> Option<Value<Self::Obj>>;

    /// `obj.name`: `name`, `summary`, `address`, `location`, `username`,
    /// `password`…; null when the object has no such property.
    fn property(&self, obj: &Self::Obj, name: &str) -> Value<Self::Obj>;

    /// `obj.getParameter('name')`; null when the object has no such parameter.
    fn get_parameter(&self, obj: &Self::Obj, name: &str) -> Value<Self::Obj>;

    /// The site parameter `name`; null when there is none.
    fn global(&self, name: &str) -> Value<Self::Obj>;

    /// `resolve_credentials('kind')`: the credential object, or null (SEMANTICS §4).
    fn credentials(&self, kind: &str) -> Value<Self::Obj>;
}

/// The value of an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<O> {
    Null,
    Str(String),
    /// Always finite: arithmetic that overflows gives [`Value::Null`].
    Num(f64),
    Bool(bool),
    Obj(O),
}

impl<O> Value<O> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Truthiness, for `if`, `!`, `&&`, `||`. False: null, `false`, zero, empty
    /// text, and text that reads as false: `false`, `no`, `off` (any case) or a
    /// number equal to zero, because parameter values are always text and
    /// `<parameter name="verbose">no</parameter>` must not count as true.
    /// Everything else, objects included, is true.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => {
                let t = s.trim();
                let falsy = t.is_empty()
                    || ["false", "no", "off"].iter().any(|f| t.eq_ignore_ascii_case(f))
                    || number_in(t) == Some(0.0);
                !falsy
            }
            Value::Obj(_) => true,
        }
    }

    /// What `coalesce` skips: null and empty text.
    fn is_absent(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        }
    }

    /// A number, or text that reads as one (`' 5 '`, `1.5`, `-2`).
    fn number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            Value::Str(s) => number_in(s),
            _ => None,
        }
    }

    /// The text of a string, number or boolean; None for null and objects.
    fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Num(n) => Some(format_number(*n)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Obj(_) => None,
        }
    }
}

fn number_in(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A finite number, else null (overflow, or a literal too long to be finite).
fn num<O>(n: f64) -> Value<O> {
    if n.is_finite() { Value::Num(n) } else { Value::Null }
}

/// Text, unless it is longer than [`MAX_TEXT`].
fn text<O>(s: String) -> Value<O> {
    if s.len() > MAX_TEXT { Value::Null } else { Value::Str(s) }
}

/// A number as a parameter value: no trailing `.0` when integral (`5`, not `5.0`),
/// no exponent, and never `-0`.
pub fn format_number(n: f64) -> String {
    // f64's Display already prints integral values without a fraction and never
    // uses an exponent; only the sign of zero needs fixing.
    if n == 0.0 { "0".to_owned() } else { n.to_string() }
}

/// The parameters evaluated so far, over an [`Env`]. A name that is not a root
/// resolves to the latest earlier parameter of that name, else the site parameter.
pub struct Scope<'e, E: Env> {
    env: &'e E,
    params: Vec<(String, Value<E::Obj>)>,
}

impl<E: Env> fmt::Debug for Scope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").field("params", &self.params.iter().map(|(n, _)| n).collect::<Vec<_>>()).finish()
    }
}

impl<'e, E: Env> Scope<'e, E> {
    pub fn new(env: &'e E) -> Self {
        Scope { env, params: Vec::new() }
    }

    pub fn env(&self) -> &'e E {
        self.env
    }

    /// Records an evaluated parameter; later templates see this value.
    pub fn define(&mut self, name: impl Into<String>, value: Value<E::Obj>) {
        self.params.push((name.into(), value));
    }

    /// A parameter name (bare or dotted): the latest earlier parameter, even if it
    /// evaluated to null; else the site parameter; else null.
    pub fn lookup(&self, name: &str) -> Value<E::Obj> {
        match self.params.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => v.clone(),
            None => self.env.global(name),
        }
    }

    /// How a value renders: null as nothing, numbers by [`format_number`], an
    /// object as its `name` property.
    pub fn text(&self, value: &Value<E::Obj>) -> Option<String> {
        match value {
            Value::Obj(o) => self.env.property(o, "name").scalar_text(),
            v => v.scalar_text(),
        }
    }

    fn property(&self, value: Value<E::Obj>, name: &str) -> Value<E::Obj> {
        match value {
            Value::Obj(o) => self.env.property(&o, name),
            _ => Value::Null,
        }
    }

    fn resolve(&self, names: &[&str]) -> Value<E::Obj> {
        match Reference::of_chain(names) {
            Reference::Global(name) => self.env.global(&name),
            Reference::Parameter(name) => self.lookup(&name),
            Reference::Root { root, path } => {
                let start = self.env.root(root).unwrap_or(Value::Null);
                path.iter().fold(start, |v, p| self.property(v, p))
            }
        }
    }

    /// Evaluates one expression (see the module docs of `expr` for the rules).
    pub fn eval(&self, expr: &Expr) -> Value<E::Obj> {
        match expr {
            Expr::Null => Value::Null,
            Expr::Bool(b) => Value::Bool(*b),
            Expr::Num(n) => num(n.value),
            Expr::Str(s) => Value::Str(s.clone()),
            Expr::Name(_) | Expr::Member(..) => match (expr.chain(), expr) {
                (Some(names), _) => self.resolve(&names),
                (None, Expr::Member(recv, name)) => self.property(self.eval(recv), name),
                (None, _) => Value::Null,
            },
            Expr::Method(recv, Method::GetParameter, args) => {
                let Value::Obj(obj) = self.eval(recv) else {
                    return Value::Null;
                };
                match args.first().and_then(|a| self.eval(a).scalar_text()) {
                    Some(name) => self.env.get_parameter(&obj, &name),
                    None => Value::Null,
                }
            }
            Expr::Call(Function::Coalesce, args) => {
                args.iter().map(|a| self.eval(a)).find(|v| !v.is_absent()).unwrap_or(Value::Null)
            }
            Expr::Call(Function::If, args) => {
                let cond = args.first().is_some_and(|c| self.eval(c).truthy());
                let branch = if cond { args.get(1) } else { args.get(2) };
                branch.map_or(Value::Null, |b| self.eval(b))
            }
            Expr::Call(Function::ResolveCredentials, args) => {
                match args.first().and_then(|a| self.eval(a).scalar_text()) {
                    Some(kind) => self.env.credentials(&kind),
                    None => Value::Null,
                }
            }
            Expr::Unary(UnaryOp::Not, x) => Value::Bool(!self.eval(x).truthy()),
            Expr::Unary(UnaryOp::Neg, x) => self.eval(x).number().map_or(Value::Null, |n| num(-n)),
            Expr::Binary(BinaryOp::And, l, r) => Value::Bool(self.eval(l).truthy() && self.eval(r).truthy()),
            Expr::Binary(BinaryOp::Or, l, r) => Value::Bool(self.eval(l).truthy() || self.eval(r).truthy()),
            Expr::Binary(BinaryOp::Eq, l, r) => Value::Bool(self.equal(&self.eval(l), &self.eval(r))),
            Expr::Binary(BinaryOp::Ne, l, r) => Value::Bool(!self.equal(&self.eval(l), &self.eval(r))),
            Expr::Binary(op @ (BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge), l, r) => {
                match order(&self.eval(l), &self.eval(r)) {
                    None => Value::Null,
                    Some(ord) => Value::Bool(match op {
                        BinaryOp::Lt => ord == Ordering::Less,
                        BinaryOp::Le => ord != Ordering::Greater,
                        BinaryOp::Gt => ord == Ordering::Greater,
                        _ => ord != Ordering::Less,
                    }),
                }
            }
            Expr::Binary(BinaryOp::Add, l, r) => self.add(self.eval(l), self.eval(r)),
        }
    }

    /// `==`: null equals only null; a number equals a number or text that reads as
    /// the same number; two texts compare exactly (`'1.0' != '1'`, so versions and
    /// names are not mangled); anything else compares by rendered text.
    fn equal(&self, a: &Value<E::Obj>, b: &Value<E::Obj>) -> bool {
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            (Value::Num(x), other) | (other, Value::Num(x)) => other.number() == Some(*x),
            (Value::Str(x), Value::Str(y)) => x == y,
            _ => match (self.text(a), self.text(b)) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            },
        }
    }

    /// `+`: null is the identity; a number plus a number (or text that reads as one)
    /// adds; otherwise, when either side is text, the rendered texts are joined;
    /// anything else is null.
    fn add(&self, a: Value<E::Obj>, b: Value<E::Obj>) -> Value<E::Obj> {
        match (a, b) {
            (Value::Null, v) | (v, Value::Null) => v,
            (a @ Value::Num(_), b) | (b, a @ Value::Num(_)) if b.number().is_some() => {
                num(a.number().unwrap_or(0.0) + b.number().unwrap_or(0.0))
            }
            (a, b) if matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)) => {
                let mut s = self.text(&a).unwrap_or_default();
                s.push_str(&self.text(&b).unwrap_or_default());
                text(s)
            }
            _ => Value::Null,
        }
    }
}

/// `<` and friends: numerically when both sides read as numbers, else two texts
/// by bytes; anything else (null, booleans, objects) has no order.
fn order<O>(a: &Value<O>, b: &Value<O>) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.number(), b.number()) {
        return x.partial_cmp(&y);
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

impl Template {
    /// The template's value: a template that is exactly one `#{…}` keeps the
    /// expression's value (null, number, object…); anything else is text.
    pub fn evaluate<E: Env>(&self, scope: &Scope<'_, E>) -> Value<E::Obj> {
        match self.parts.as_slice() {
            [Part::Expr(e)] => scope.eval(e),
            _ => self.render_capped(scope).map_or(Value::Null, Value::Str),
        }
    }

    /// The template as text: expressions rendered by [`Scope::text`], null as
    /// nothing. Text over [`MAX_TEXT`] renders as empty.
    pub fn render<E: Env>(&self, scope: &Scope<'_, E>) -> String {
        self.render_capped(scope).unwrap_or_default()
    }

    /// The rendered text, or None when it would exceed [`MAX_TEXT`].
    fn render_capped<E: Env>(&self, scope: &Scope<'_, E>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Expr(e) => out.push_str(&scope.text(&scope.eval(e)).unwrap_or_default()),
            }
            if out.len() > MAX_TEXT {
                return None;
            }
        }
        Some(out)
    }
}

/// Evaluates a command's parameters top to bottom (SEMANTICS §4): each template sees
/// the evaluated values of the parameters above it; a name not defined above falls
/// back to the site parameter. Returns every parameter's rendered text, in order.
pub fn evaluate_parameters<E: Env>(params: &[(&str, &Template)], env: &E) -> Vec<(String, String)> {
    let mut scope = Scope::new(env);
    let mut out = Vec::with_capacity(params.len());
    for (name, template) in params {
        let value = template.evaluate(&scope);
        out.push(((*name).to_owned(), scope.text(&value).unwrap_or_default()));
        scope.define(*name, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse_template;
    use super::*;

    /// A model object in the fake: just its id.
    #[derive(Debug, Clone, PartialEq)]
    struct Id(&'static str);

    /// A small model: objects with properties and parameters, roots, site
    /// parameters and credentials, all as tables.
    #[derive(Default)]
    struct Fake {
        roots: Vec<(&'static str, &'static str)>,
        props: Vec<(&'static str, &'static str, Value<Id>)>,
        params: Vec<(&'static str, &'static str, &'static str)>,
        site: Vec<(&'static str, &'static str)>,
        creds: Vec<(&'static str, &'static str)>,
    }

    impl Env for Fake {
        type Obj = Id;

        fn root(&self, name: &str) -> Option<Value<Id>> {
            self.roots.iter().find(|(r, _)| *r == name).map(|(_, id)| Value::Obj(Id(id)))
        }

        fn property(&self, obj: &Id, name: &str) -> Value<Id> {
            let found = self.props.iter().find(|(o, p, _)| *o == obj.0 && *p == name);
            found.map_or(Value::Null, |(_, _, v)| v.clone())
        }

        fn get_parameter(&self, obj: &Id, name: &str) -> Value<Id> {
            let found = self.params.iter().find(|(o, p, _)| *o == obj.0 && *p == name);
            found.map_or(Value::Null, |(_, _, v)| Value::Str((*v).to_owned()))
        }

        fn global(&self, name: &str) -> Value<Id> {
            self.site.iter().find(|(n, _)| *n == name).map_or(Value::Null, |(_, v)| Value::Str((*v).to_owned()))
        }

        fn credentials(&self, kind: &str) -> Value<Id> {
            self.creds.iter().find(|(k, _)| *k == kind).map_or(Value::Null, |(_, id)| Value::Obj(Id(id)))
        }
    }

    fn s(v: &str) -> Value<Id> {
        Value::Str(v.to_owned())
    }

    /// Host web1 in location dc1, checked by service `load`.
    fn fixture() -> Fake {
        Fake {
            roots: vec![("host", "web1"), ("location", "dc1"), ("service", "load"), ("this", "load"), ("site", "site")],
            props: vec![
                ("web1", "name", s("web1")),
                ("web1", "address", s("10.0.0.1")),
                ("web1", "location", Value::Obj(Id("dc1"))),
                ("dc1", "name", s("dc1")),
                ("load", "name", s("load")),
                ("site", "name", s("example")),
                ("cred-snmp", "username", s("monitor")),
                ("cred-snmp", "password", s("s3cret")),
            ],
            params: vec![("web1", "snmp_community", "private"), ("dc1", "zone", "eu"), ("dc1", "snmp_community", "dc")],
            site: vec![("nagios.path", "/usr/lib/nagios/plugins"), ("timeout", "10"), ("warning", "site-warning")],
            creds: vec![("snmp", "cred-snmp")],
        }
    }

    /// Host web2 with no location, no parameters, no service.
    fn bare_host() -> Fake {
        Fake { roots: vec![("host", "web2")], props: vec![("web2", "name", s("web2"))], ..Fake::default() }
    }

    fn render(env: &Fake, input: &str) -> String {
        let t = parse_template(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        t.render(&Scope::new(env))
    }

    fn check(env: &Fake, cases: &[(&str, &str)]) {
        for (input, want) in cases {
            assert_eq!(&render(env, input), want, "{input}");
        }
    }

    #[test]
    fn literals_and_rendering() {
        check(&fixture(), &[
            ("plain", "plain"),
            ("#{'a'}#{\"b\"}", "ab"),
            ("#{5} #{100.0} #{1.50} #{007}", "5 100 1.5 7"),
            ("#{true} #{false}", "true false"),
            ("[#{null}]", "[]"),
            ("x#{null}y", "xy"),
            ("#{host}", "web1"),
            (&format!("#{{1{}}}", "0".repeat(400)), ""),
        ]);
    }

    #[test]
    fn operators() {
        check(&fixture(), &[
            // `+`: numbers add, text joins, null is the identity.
            ("#{1 + 2}", "3"),
            ("#{0.1 + 0.2 == 0.3}", "false"),
            ("#{'a' + 'b'}", "ab"),
            ("#{'a' + 1}", "a1"),
            ("#{'2' + 1} #{1 + ' 2 '}", "3 3"),
            ("#{'2' + '1'}", "21"),
            ("#{null + 'a'} #{1 + null} [#{null + null}]", "a 1 []"),
            ("#{'x' + true} [#{true + 1}] [#{true + true}]", "xtrue [] []"),
            ("#{host + '!'}", "web1!"),
            // Prefix minus.
            ("#{-5} #{-'5'} [#{-'x'}] #{-0} #{--2}", "-5 -5 [] 0 2"),
            // Equality.
            ("#{1 == 1} #{'1' == 1} #{1 == '1.0'} #{'1.0' == '1'}", "true true true false"),
            ("#{'a' == 'a'} #{'a' == 'A'} #{'a' != 'b'} #{1 != 2}", "true false true true"),
            ("#{null == null} #{null == ''} #{null != 'x'} #{'' == ''}", "true false true true"),
            ("#{true == 'true'} #{true == 1} #{false == false}", "true false true"),
            ("#{host == 'web1'} #{host == host} #{host == location}", "true true false"),
            // Ordering.
            ("#{1 < 2} #{2 <= 2} #{3 > 4} #{3 >= 4} #{4 >= 4}", "true true false false true"),
            ("#{'10' > '9'} #{'b' > 'a'} #{'ab' < 'b'}", "true true true"),
            ("[#{'a' < 1}] [#{null < 1}] [#{true < false}] [#{host > 1}]", "[] [] [] []"),
            // Logic and truthiness.
            ("#{true && false} #{true and 'yes'} #{false || 'x'} #{null or 0}", "false true true false"),
            ("#{!null} #{not 'false'} #{!'No'} #{!'0.0'} #{!'off'} #{!''}", "true true true true true true"),
            ("#{!'anything'} #{!0} #{!1} #{!host} #{!' '}", "false true false false true"),
            // Precedence, evaluated.
            ("#{1 + 2 == 3 && 'a' < 'b'}", "true"),
            ("#{!true == false}", "true"),
            ("#{'a' + 1 + 2} #{1 + 2 + 'a'} #{'a' + (1 + 2)}", "a12 3a a3"),
            ("#{false && true || true} #{false && (true || true)}", "true false"),
        ]);
    }

    #[test]
    fn names_and_navigation() {
        check(&fixture(), &[
            ("#{host.address}", "10.0.0.1"),
            ("#{host.location.name}", "dc1"),
            ("#{location.getParameter('zone')}", "eu"),
            ("#{host.getParameter('snm' + 'p_community')}", "private"),
            ("#{service.name} #{this.name} #{site.name}", "load load example"),
            ("#{global.nagios.path} #{global.timeout} [#{global.missing}]", "/usr/lib/nagios/plugins 10 []"),
            ("#{nagios.path}/check_ping", "/usr/lib/nagios/plugins/check_ping"),
            ("#{timeout} [#{nosuch}] [#{nosuch.thing}]", "10 [] []"),
            ("#{resolve_credentials('snmp').username}:#{resolve_credentials('snmp').password}", "monitor:s3cret"),
            ("[#{resolve_credentials('ssh').username}] [#{resolve_credentials(null)}]", "[] []"),
        ]);
        // Null-safe navigation: nothing here exists, nothing fails.
        check(&bare_host(), &[
            ("[#{host.location.getParameter('snmp_community')}]", "[]"),
            ("[#{host.location.name.foo}]", "[]"),
            ("[#{location.name}] [#{service.name}] [#{trap}]", "[] [] []"),
            ("[#{'str'.name}] [#{(1 + 2).x}] [#{'x'.getParameter('y')}]", "[] [] []"),
            ("[#{host.getParameter(null)}] [#{host.getParameter(host)}]", "[] []"),
            ("[#{nagios.path.getParameter('x')}]", "[]"),
        ]);
    }

    #[test]
    fn functions() {
        check(&fixture(), &[
            ("#{coalesce(null, '', 'x', 'y')}", "x"),
            ("[#{coalesce(null, '')}]", "[]"),
            ("#{coalesce(0, 1)} #{coalesce(false, 1)} #{coalesce(' ', 1)}", "0 false  "),
            ("#{coalesce(host.getParameter('nope'), host.location.getParameter('zone'))}", "eu"),
            ("#{if(true, 'a', 'b')} #{if('', 'a', 'b')} [#{if(false, 'a')}]", "a b []"),
            ("#{if(host.location, 'has', 'none')} #{if(service.nope, 'has', 'none')}", "has none"),
            ("#{if(1 < 2, 'lt', 'ge')} #{if(null, 1, 2)}", "lt 2"),
        ]);
    }

    /// The guide's community example: the host's parameter, else the location's,
    /// else 'public'.
    #[test]
    fn snmp_community_guide_example() {
        let input = "#{coalesce(host.getParameter('snmp_community'), host.location.getParameter('snmp_community'), 'public')}";
        let host_param = fixture();
        let mut location_param = fixture();
        location_param.params.retain(|(o, _, _)| *o != "web1");
        check(&host_param, &[(input, "private")]);
        check(&location_param, &[(input, "dc")]);
        check(&bare_host(), &[(input, "public")]);
    }

    fn params(env: &Fake, defs: &[(&'static str, &str)]) -> Vec<(String, String)> {
        let parsed: Vec<_> =
            defs.iter().map(|(n, t)| (*n, parse_template(t).unwrap_or_else(|e| panic!("{t}: {e}")))).collect();
        let refs: Vec<(&str, &Template)> = parsed.iter().map(|(n, t)| (*n, t)).collect();
        evaluate_parameters(&refs, env)
    }

    fn check_params(env: &Fake, defs: &[(&'static str, &str)], want: &[&str]) {
        let got = params(env, defs);
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        let values: Vec<_> = got.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(names, defs.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        assert_eq!(values, want, "{defs:?}");
    }

    #[test]
    fn check_ping_guide_example() {
        check_params(
            &fixture(),
            &[
                ("warning", "100.0,20%"),
                ("critical", "500.0,60%"),
                ("packets", "5"),
                ("command_line", "#{nagios.path}/check_ping -H #{host.address} -w #{warning} -c #{critical} -p #{packets}"),
            ],
            &["100.0,20%", "500.0,60%", "5", "/usr/lib/nagios/plugins/check_ping -H 10.0.0.1 -w 100.0,20% -c 500.0,60% -p 5"],
        );
    }

    #[test]
    fn top_to_bottom() {
        let env = fixture();
        // An earlier parameter gives its evaluated value, not its text.
        check_params(&env, &[("a", "#{host.name}-x"), ("b", "#{a}!"), ("c", "#{b}#{a}")], &[
            "web1-x",
            "web1-x!",
            "web1-x!web1-x",
        ]);
        // A later parameter is not visible: the site parameter, else null.
        check_params(&env, &[("a", "[#{b}] #{warning}"), ("b", "B"), ("warning", "W"), ("c", "#{warning}")], &[
            "[] site-warning",
            "B",
            "W",
            "W",
        ]);
        // A parameter naming itself sees the site parameter (an override pattern).
        check_params(&env, &[("timeout", "#{timeout}0")], &["100"]);
        // Single-expression parameters keep their type for later ones.
        check_params(&env, &[("flag", "#{1 > 2}"), ("x", "#{if(flag, 'y', 'n')}"), ("n", "#{1 + 1}"), ("m", "#{n + 1}")], &[
            "false", "n", "2", "3",
        ]);
        check_params(&env, &[("h", "#{host}"), ("z", "#{h}"), ("loc", "#{host.location}"), ("q", "#{loc == 'dc1'}")], &[
            "web1", "web1", "dc1", "true",
        ]);
        // An earlier null shadows the site parameter of the same name.
        check_params(&env, &[("warning", "#{null}"), ("w", "[#{warning}]"), ("d", "#{coalesce(warning, 'd')}")], &[
            "",
            "[]",
            "d",
        ]);
        // Dotted parameter names work like bare ones.
        check_params(&env, &[("nagios.path", "/opt"), ("cmd", "#{nagios.path}/x")], &["/opt", "/opt/x"]);
    }

    /// Repeating an earlier parameter cannot grow text without bound.
    #[test]
    fn text_cap() {
        let env = fixture();
        let forty = "#{p}".repeat(40);
        let got = params(&env, &[("p", &"x".repeat(1000)), ("p", &forty), ("p", &forty), ("q", "[#{p}]")]);
        let lens: Vec<_> = got.iter().map(|(_, v)| v.len()).collect();
        assert_eq!(lens, [1000, 40_000, 0, 2]);
        let big = Template::literal("y".repeat(MAX_TEXT));
        let scope = Scope::new(&env);
        assert_eq!(big.evaluate(&scope), Value::Str("y".repeat(MAX_TEXT)));
        let mut scope = Scope::new(&env);
        scope.define("big", big.evaluate(&scope));
        let join = parse_template("#{big + 'z'}").unwrap_or_default();
        assert_eq!(join.evaluate(&scope), Value::Null);
        assert_eq!(parse_template("#{big}z").unwrap_or_default().evaluate(&scope), Value::Null);
    }

    #[test]
    fn number_format() {
        let cases: &[(f64, &str)] =
            &[(5.0, "5"), (-0.0, "0"), (0.5, "0.5"), (-2.25, "-2.25"), (1e21, "1000000000000000000000"), (1e-7, "0.0000001")];
        for (n, want) in cases {
            assert_eq!(format_number(*n), *want);
        }
    }
}
