//! Virtual check conditions and `<depends>` (SEMANTICS §6): parser, resolution, evaluation.
