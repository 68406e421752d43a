//! Virtual check conditions and `<depends>` (SEMANTICS §6): parser, resolution, evaluation.
//!
//! Three steps, each pure (no I/O, no clock):
//! 1. [`parse`] turns text into a [`Condition`] (offsets kept for messages); its
//!    `Display` is a canonical text that re-parses to an equal tree.
//! 2. [`resolve`] looks every reference up through a [`Resolver`] (the model), giving
//!    a [`Resolved`] with the distinct member checks, or every missing reference.
//! 3. [`Resolved::evaluate`] computes status and hardness from the members' state,
//!    given by a [`StatusLookup`]; the daemon calls it whenever a member changes.
//!
//! Decisions where §6 leaves room (tested in the files named):
//! - Names are `'single quoted'`; a quote inside a name is written twice: `'it''s'`.
//!   Backslash has no special meaning. Empty names are an error (`parser`).
//! - `xor` is OK when an odd number of its operands are ok, so `a xor b xor c` is the
//!   same whether grouped or not (for two operands: exactly one) (`eval`).
//! - `case` without `else` gives UNKNOWN (`parser`).
//! - `majority … as S` needs both statuses: `as WARNING, CRITICAL` (`parser`).
//! - Values are de-duplicated: `[host 'a', host 'a']` is one member (`resolve`).
//! - `all`/`any` over no members (an empty pool) give PENDING: no member has reported
//!   anything. Counting functions just count zero (`eval`).
//! - A member acknowledged, suppressed or in downtime counts as OK when its status is
//!   not ok; an ok status (PENDING, INFO) is kept (`eval`).
//! - Hardness: hard when every distinct member is hard; with no members, hard (`eval`).
//!
//! Not here: checking that a cluster's condition names only hosts (validation does
//! that via [`Condition::references`]), scheduling, notifications.

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod resolve;

pub use ast::{
    CaseArm, CheckKind, CheckRef, CmpOp, Condition, Expr, Function, Located, PoolMembers, PoolRef, Quantity, Reference,
    Values,
};
pub use error::{ConditionError, ErrorKind};
pub use eval::{Evaluation, Member, StatusLookup};
pub use parser::parse;
pub use resolve::{Resolved, ResolvedExpr, Resolver, UnresolvedRef, resolve};

/// How deep `(`, `not` and `case … when` may nest; deeper input is refused with
/// [`ErrorKind::TooDeep`] so that no input can overflow the stack.
pub const MAX_DEPTH: usize = 64;
