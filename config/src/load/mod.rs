//! Loading: every `*.xml` under a directory, recursively, in path order, into a
//! [`RawConfig`] plus diagnostics (SEMANTICS §1).

mod objects;
pub mod tree;

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Diagnostics};
use crate::raw::RawConfig;
use crate::span::{FileId, SourceMap, Span};


/// The result of reading files: what they say, where, and what was wrong.
#[derive(Debug, Default)]
pub struct Loaded {
    pub raw: RawConfig,
    pub sources: SourceMap,
    pub diags: Diagnostics,
}

/// Reads every `*.xml` below `dir` (or the one file `dir` names).
pub fn load_path(dir: &Path) -> Loaded {
    load_paths(&[dir])
}

/// Reads every `*.xml` below each of `dirs` (or the file one names): the directories
/// in the order given, the files of each in path order.
pub fn load_paths(dirs: &[&Path]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for dir in dirs {
        let mut found = Vec::new();
        if dir.is_file() {
            found.push(dir.to_path_buf());
        } else if let Err(e) = collect_xml(dir, &mut found) {
            loaded.diags.push(
                Diagnostic::error(None, format!("cannot read configuration directory {}: {e}", dir.display()))
                    .hint("pass the directory that holds the site's *.xml files"),
            );
            continue;
        }
        found.sort();
        if found.is_empty() {
            loaded.diags.push(
                Diagnostic::error(None, format!("no *.xml files under {}", dir.display()))
                    .hint("create a site with `bergamot-cli config new-site NAME DIR`"),
            );
        }
        files.extend(found);
    }
    for path in files {
        match std::fs::read(&path) {
            Ok(bytes) => {
                let id = loaded.sources.add(path.clone());
                match String::from_utf8(bytes) {
                    Ok(text) => load_text(&mut loaded, id, &text),
                    Err(e) => {
                        let (line, col) = crate::span::LineIndex::new(&String::from_utf8_lossy(e.as_bytes()))
                            .position(e.utf8_error().valid_up_to());
                        loaded.diags.push(Diagnostic::error(
                            Some(Span::new(id, line, col)),
                            "file is not valid UTF-8",
                        ));
                    }
                }
            }
            Err(e) => loaded.diags.push(Diagnostic::error(None, format!("cannot read {}: {e}", path.display()))),
        }
    }
    loaded
}

/// Loads one document's text (tests, fuzzing, the UI's config editor).
pub fn load_text(loaded: &mut Loaded, file: FileId, text: &str) {
    match tree::parse(file, text) {
        Ok(roots) => {
            let mut reader = objects::Reader { cfg: &mut loaded.raw, diags: &mut loaded.diags, file };
            reader.document(roots, Span::new(file, 1, 1));
        }
        Err(e) => {
            let mut d = Diagnostic::error(Some(e.span), e.message);
            if let Some(h) = e.hint {
                d = d.hint(h);
            }
            loaded.diags.push(d);
        }
    }
}

/// Loads in-memory documents named like files, in the given order.
pub fn load_documents<'a>(docs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Loaded {
    let mut loaded = Loaded::default();
    for (name, text) in docs {
        let id = loaded.sources.add(PathBuf::from(name));
        load_text(&mut loaded, id, text);
    }
    loaded
}

fn collect_xml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() || (ft.is_symlink() && path.is_dir()) {
            // Hidden directories (.git, editors' state) are not configuration.
            if !entry.file_name().to_string_lossy().starts_with('.') {
                collect_xml(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
    Ok(())
}
