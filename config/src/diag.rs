//! Diagnostics: errors and warnings with file, line, column, object path and a hint,
//! rendered rustc-style.
//!
//! Loading never stops at the first problem; every stage pushes into one
//! [`Diagnostics`] list so the user sees all of them in one run.

use std::fmt::Write as _;

use crate::span::{SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where it is; `None` only for problems with no position (an unreadable directory).
    #[serde(skip)]
    pub span: Option<Span>,
    /// The object's path, `site/host/web1/service/load`.
    pub object: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, span, object: None, message: message.into(), hint: None }
    }

    pub fn warning(span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, span, object: None, message: message.into(), hint: None }
    }

    pub fn object(mut self, path: impl Into<String>) -> Self {
        self.object = Some(path.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics of one load, in the order they were found.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| !d.is_error())
    }

    /// Sorts by file, line, column (stable, so same-position messages keep their order).
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)));
    }

    /// Renders every diagnostic, rustc-style, reading source lines from disk.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut cache = SourceCache::default();
        let mut out = String::new();
        for d in &self.items {
            render_one(d, sources, &mut cache, &mut out);
        }
        out
    }
}

/// `did you mean …?` for a misspelt name, from the candidates that are close enough.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&name.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

#[derive(Default)]
struct SourceCache {
    file: Option<(crate::span::FileId, Vec<String>)>,
}

impl SourceCache {
    fn line(&mut self, sources: &SourceMap, span: Span) -> Option<String> {
        if self.file.as_ref().is_none_or(|(id, _)| *id != span.file) {
            let text = std::fs::read_to_string(sources.path(span.file)).unwrap_or_default();
            self.file = Some((span.file, text.lines().map(str::to_string).collect()));
        }
        let (_, lines) = self.file.as_ref()?;
        lines.get(span.line.checked_sub(1)? as usize).cloned()
    }
}

fn render_one(d: &Diagnostic, sources: &SourceMap, cache: &mut SourceCache, out: &mut String) {
    let level = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{level}: {}", d.message);
    if let Some(span) = d.span {
        let gutter = span.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {}", sources.locate(span));
        if let Some(line) = cache.line(sources, span) {
            let caret_at: usize = line
                .chars()
                .take(span.col.saturating_sub(1) as usize)
                .map(|c| if c == '\t' { 4 } else { 1 })
                .sum();
            let shown = line.replace('\t', "    ");
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", span.line, shown);
            let _ = writeln!(out, "{pad} | {}^", " ".repeat(caret_at));
        }
        if let Some(obj) = &d.object {
            let _ = writeln!(out, "{pad} = object: {obj}");
        }
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "{pad} = help: {h}");
        }
    } else {
        if let Some(obj) = &d.object {
            let _ = writeln!(out, "  = object: {obj}");
        }
        if let Some(h) = &d.hint {
            let _ = writeln!(out, "  = help: {h}");
        }
    }
    out.push('\n');
}
