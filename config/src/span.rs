//! Source positions: which file, line and column a configuration value came from.
//!
//! Every object and value the loader reads keeps a [`Span`]; diagnostics and
//! `config show` turn them back into `path:line:col` through the [`SourceMap`].

use std::path::{Path, PathBuf};

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A position in a configuration file: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub file: FileId,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub const fn new(file: FileId, line: u32, col: u32) -> Self {
        Span { file, line, col }
    }

    /// The position `offset` characters further along the same line (for values
    /// inside an attribute or text: `monday 25:00` points at `25:00`).
    pub fn shifted(self, chars: usize) -> Self {
        Span { col: self.col.saturating_add(chars as u32), ..self }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// The files of one load, by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<PathBuf>,
}

impl SourceMap {
    pub fn add(&mut self, path: PathBuf) -> FileId {
        self.files.push(path);
        FileId((self.files.len() - 1) as u32)
    }

    pub fn path(&self, id: FileId) -> &Path {
        self.files.get(id.0 as usize).map(PathBuf::as_path).unwrap_or(Path::new("<unknown>"))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Every file, in load order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(PathBuf::as_path)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `path:line:col` for a span.
    pub fn locate(&self, span: Span) -> String {
        format!("{}:{}:{}", self.path(span.file).display(), span.line, span.col)
    }
}

/// Maps byte offsets of one file's text to 1-based line and column.
#[derive(Debug)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 40 + 1);
        starts.push(0);
        starts.extend(memchr_newlines(text.as_bytes()).map(|i| i + 1));
        LineIndex { text, starts }
    }

    /// Line and column (column counted in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.starts[line];
        let col = self.text.get(start..offset).map(|s| s.chars().count()).unwrap_or(offset - start);
        (line as u32 + 1, col as u32 + 1)
    }
}

fn memchr_newlines(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let idx = LineIndex::new("ab\ncé\nxyz");
        assert_eq!(idx.position(0), (1, 1));
        assert_eq!(idx.position(3), (2, 1));
        // 'é' is two bytes: the byte after it is column 3.
        assert_eq!(idx.position(6), (2, 3));
        assert_eq!(idx.position(8), (3, 2));
    }
}
