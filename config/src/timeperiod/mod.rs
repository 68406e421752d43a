//! Time ranges and time periods (SEMANTICS §5): parsing, evaluation, next change.
