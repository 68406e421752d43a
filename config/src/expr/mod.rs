//! `#{…}` expressions in parameter values (SEMANTICS §4): parser and evaluator.
//!
//! A parameter value is a [`Template`]: literal text with embedded `#{ expr }` parts,
//! as in `#{nagios.path}/check_ping -H #{host.address} -w #{warning}`.
//! [`parse_template`] checks the syntax once, at load time, and names the byte where
//! a value goes wrong; [`evaluate_parameters`] renders a command's parameters when a
//! check is built, against an [`Env`] that the model implements.
//!
//! Architecture invariant: pure code. No I/O, no clock, no global state. Parsing
//! never panics and never recurses deeper than [`MAX_DEPTH`] levels whatever the
//! input (it is fuzzed: `config/fuzz/fuzz_targets/expression.rs`); evaluation never
//! fails: anything that cannot be computed is null.
//!
//! Code map: `lexer` (tokens inside `#{}`), `parser` (text scanning and grammar),
//! `ast` (the tree, canonical printing, references for validation), `eval` (values,
//! the environment, the top-to-bottom rule).
//!
//! # Text
//! Everything outside `#{…}` is literal; a `}` outside an expression is just text.
//! `#` is special only right before `{`: in a run of `#`s just before `{`, each pair
//! stands for one literal `#`, and an odd one left over opens an expression. So
//! `##{` is a literal `#{`, and `###{x}` is a `#` followed by the value of `x`.
//!
//! # Expressions
//! * Literals: `'text'` or `"text"` (a backslash escapes `\`, `'` and `"`; before
//!   anything else it is kept, so `'\d+'` is `\d+`), numbers `5` and `100.0` (no sign,
//!   no exponent: `-5` is negation), `true`, `false`, `null`.
//! * Names `[A-Za-z_][A-Za-z0-9_-]*` (hyphens allowed for `nrpe-arg1`), member access
//!   `a.b.c`, the method `obj.getParameter('name')`, and the functions
//!   `coalesce(a, b, …)`, `if(cond, then)`, `if(cond, then, else)` and
//!   `resolve_credentials('kind')`. Any other function or method, or a wrong number
//!   of arguments, is a parse error.
//! * Operators, from loosest to tightest:
//!
//!   | level | operators                         | grouping          |
//!   |-------|-----------------------------------|-------------------|
//!   | 1     | `\|\|`, `or`                      | left              |
//!   | 2     | `&&`, `and`                       | left              |
//!   | 3     | `==`, `!=`                        | none (no chains)  |
//!   | 4     | `<`, `<=`, `>`, `>=`              | none (no chains)  |
//!   | 5     | `+`                               | left              |
//!   | 6     | prefix `!`, `not`, `-`            | right             |
//!   | 7     | `.name`, `.getParameter(…)`       | left              |
//!
//!   `a == b == c` is an error rather than a comparison of a boolean with `c`.
//!   Parentheses group; nesting (parentheses, prefix operators, argument lists and
//!   the depth of the resulting tree) is capped at [`MAX_DEPTH`].
//!
//! # Names
//! The first name of a chain decides what it means ([`Reference`]):
//! * one of [`ROOTS`] (`host service trap cluster resource this site location`): a
//!   model object from the [`Env`]; the rest of the chain reads its properties;
//! * `global.NAME`: the site parameter `NAME` (`global.a.b` is the site parameter
//!   `a.b`);
//! * anything else, the whole chain joined with dots (`warning`, `nagios.path`): a
//!   parameter of the command. Parameters are evaluated top to bottom; a parameter
//!   above yields its evaluated value (even null); a name not defined above (later,
//!   itself, or nowhere) falls back to the site parameter, else null.
//!
//! Navigation is null-safe: a property of null or of a non-object is null.
//!
//! # Values
//! An expression gives a [`Value`]: null, text, a finite number, a boolean or a
//! model object. No operation fails; type mismatches give null:
//! * `coalesce` returns its first argument that is neither null nor empty text;
//! * `if` and `!`, `&&`, `||` use [`Value::truthy`] (false: null, false, 0, empty
//!   text, and the texts `false`/`no`/`off`/`0`) and give booleans;
//! * `==`/`!=`: null equals only null; a number equals a number or text that reads
//!   as the same number; two texts compare exactly (`'1.0' != '1'`); anything else
//!   compares by rendered text. `<` etc. compare numerically when both sides read
//!   as numbers, two texts by bytes, and give null otherwise;
//! * `+` adds two numbers (or a number and numeric text), else joins text when
//!   either side is text; null is its identity;
//! * a text over [`MAX_TEXT`] bytes becomes null.
//!
//! Rendering: null renders as empty (**Decision**, not `null`), numbers without a
//! trailing `.0`, booleans as `true`/`false`, an object as its `name`. A template that
//! is exactly one `#{…}` keeps the value's type for later parameters.

mod ast;
mod eval;
mod lexer;
mod parser;

pub use ast::{BinaryOp, Expr, Function, Method, Number, Part, ROOTS, Reference, Template, UnaryOp};
pub use eval::{Env, MAX_TEXT, Scope, Value, evaluate_parameters, format_number};
pub use parser::parse_template;

/// Deepest nesting an expression may have: open parentheses, prefix operators and
/// argument lists around any point, and the depth of the parsed tree. Real
/// configurations nest a handful of levels; the cap keeps the recursive parser,
/// printer and evaluator far from the stack's end on hostile input.
pub const MAX_DEPTH: usize = 32;

/// Why a parameter value does not parse: the byte `offset` into the whole value,
/// what was `expected` there and what was `found`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct ExprError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

impl ExprError {
    pub(crate) fn new(offset: usize, expected: impl Into<String>, found: impl Into<String>) -> Self {
        ExprError { offset, expected: expected.into(), found: found.into() }
    }
}
