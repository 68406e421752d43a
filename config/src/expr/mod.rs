//! `#{…}` expressions in parameter values (SEMANTICS §4): parser and evaluator.
