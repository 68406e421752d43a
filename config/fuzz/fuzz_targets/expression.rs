//! Fuzz target for `#{…}` parameter values: parsing must never panic or overflow the
//! stack, errors must point inside the text, the canonical text must re-parse to an
//! equal template, and evaluation against a deterministic fake model must not panic.

#![no_main]

use bergamot_config::expr::{Env, Scope, Template, Value, evaluate_parameters, parse_template};
use libfuzzer_sys::fuzz_target;

/// A model where every root exists and every property is derived from names, so
/// any chain the fuzzer writes leads somewhere deterministic.
struct Fake;

impl Env for Fake {
    type Obj = String;

    fn root(&self, name: &str) -> Option<Value<String>> {
        (name != "trap").then(|| Value::Obj(name.to_owned()))
    }

    fn property(&self, obj: &String, name: &str) -> Value<String> {
        match name {
            // Objects lead to objects, but ids stay short so chains cannot grow them.
            "location" => Value::Obj(format!("loc-{}", obj.len() % 7)),
            "name" => Value::Str(obj.clone()),
            "port" => Value::Num(5666.0),
            "enabled" => Value::Bool(obj.len() % 2 == 0),
            _ if name.len() % 3 == 0 => Value::Null,
            _ => Value::Str(format!("{obj}.{name}")),
        }
    }

    fn get_parameter(&self, obj: &String, name: &str) -> Value<String> {
        if name.len() % 2 == 0 { Value::Null } else { Value::Str(format!("{obj}:{name}")) }
    }

    fn global(&self, name: &str) -> Value<String> {
        match name.len() % 4 {
            0 => Value::Null,
            1 => Value::Str(String::new()),
            2 => Value::Str("12".to_owned()),
            _ => Value::Str(name.to_owned()),
        }
    }

    fn credentials(&self, kind: &str) -> Value<String> {
        if kind.is_empty() { Value::Null } else { Value::Obj(format!("cred-{kind}")) }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let template = match parse_template(text) {
        Ok(t) => t,
        Err(e) => {
            assert!(e.offset <= text.len() && text.is_char_boundary(e.offset), "{e:?} in {text:?}");
            return;
        }
    };
    let canonical = template.to_string();
    let again = parse_template(&canonical).unwrap_or_else(|e| panic!("{canonical:?} from {text:?}: {e}"));
    assert_eq!(again, template, "{canonical:?} from {text:?}");
    assert_eq!(again.to_string(), canonical);
    assert_eq!(template.is_literal(), template.as_literal().is_some());
    let _ = template.references();

    let env = Fake;
    let _ = template.render(&Scope::new(&env));
    // The same template as three parameters in a row, named after names it uses,
    // so earlier-parameter references and their growth are exercised too.
    let names: Vec<String> = template
        .references()
        .iter()
        .filter_map(|r| match r {
            bergamot_config::expr::Reference::Parameter(n) => Some(n.clone()),
            _ => None,
        })
        .chain(["p".to_owned()])
        .take(3)
        .collect();
    let params: Vec<(&str, &Template)> = names.iter().cycle().take(3).map(|n| (n.as_str(), &template)).collect();
    let out = evaluate_parameters(&params, &env);
    assert_eq!(out.len(), 3);
});
