//! Why a condition text failed to parse, and where (a byte offset into the text).

/// What went wrong while reading a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The token at the offset cannot go there.
    #[error("expected {expected}, found {found}")]
    Unexpected { expected: &'static str, found: String },
    /// A `'` that opens a name is never closed.
    #[error("unterminated name: no closing `'` (write `''` for a quote inside a name)")]
    UnterminatedName,
    /// `''`: a check or pool name cannot be empty.
    #[error("empty name `''`: a check or pool name cannot be empty")]
    EmptyName,
    /// A character that starts no token (`=`, `$`, a non-ASCII letter outside quotes …).
    #[error("unexpected character `{0}`")]
    UnexpectedChar(char),
    /// A count larger than `u32::MAX`; no site has that many checks.
    #[error("number `{0}` is too large (at most 4294967295)")]
    NumberTooLarge(String),
    /// Parentheses, `not` and `case` nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH):
    /// refused so that hostile input cannot overflow the stack.
    #[error("condition nested deeper than {} levels", super::MAX_DEPTH)]
    TooDeep,
}

/// A parse error: its kind and the byte offset into the condition text where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct ConditionError {
    /// Byte offset into the parsed text; always on a character boundary, at most the
    /// text's length (equal to it for "found end of input").
    pub offset: usize,
    pub kind: ErrorKind,
}

impl ConditionError {
    pub fn new(offset: usize, kind: ErrorKind) -> Self {
        ConditionError { offset, kind }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        let cases = [
            (
                ConditionError::new(3, ErrorKind::Unexpected { expected: "`on`", found: "end of input".into() }),
                "expected `on`, found end of input (at byte 3)",
            ),
            (ConditionError::new(0, ErrorKind::UnexpectedChar('=')), "unexpected character `=` (at byte 0)"),
            (ConditionError::new(9, ErrorKind::TooDeep), "condition nested deeper than 64 levels (at byte 9)"),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
