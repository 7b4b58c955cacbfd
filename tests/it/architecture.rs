//! The shape of the source (README "Architecture"), checked: no module imports one
//! above it in the layering, the CLI runs no SQL, and no source file outside tests
//! is longer than one reads in one sitting.

use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, bottom first. A module may use the ones before
/// it (and the core, `crate::core`), never one after it: a total order, so there is
/// no cycle either. The areas are ordered too (the catalog first: everything bills
/// from it; the bill run after credits and documents, whose ledgers and templates it
/// uses; plan migrations and imports on top, as they run bill-run code).
const LAYERS: &[&str] = &[
    "core",
    "config",
    "error",
    "timing",
    "store",
    "paging",
    "mail",
    "queue",
    // The areas.
    "identity",
    "catalog",
    "documents",
    "credits",
    "entitlements",
    "bill_run",
    "plan_migration",
    "imports",
    // Above every handler: the registry, workers, scheduler, and waiting for jobs.
    "jobs",
    // Operations that run jobs, for every front end.
    "app",
    // Front ends and tools.
    "bench",
    "demo",
    "http",
    "cli",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/cli/jobs.rs` -> `cli`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).expect("a file under src");
    let first = rel.components().next().expect("a path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The code of a file without its comments (doc links may point anywhere) and
/// without its `#[cfg(test)]` module at the end.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named by `crate::x` paths (and `use crate::{x, y}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

fn all_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    files
}

#[test]
fn no_module_uses_one_above_it() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for file in all_files() {
        let module = module_of(&file);
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = rank(&module) else {
            wrong.push(format!(
                "{}: module {module} is not in LAYERS",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        for used in crate_paths(&code(&text)) {
            match rank(&used) {
                Some(r) if r <= own => {}
                Some(_) => wrong.push(format!(
                    "{}: {module} uses crate::{used}, which is above it",
                    file.display()
                )),
                None => wrong.push(format!(
                    "{}: crate::{used} is not in LAYERS",
                    file.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_cli_runs_no_sql() {
    let mut wrong = Vec::new();
    for file in all_files() {
        // The front ends: the CLI and the HTTP API.
        if !matches!(module_of(&file).as_str(), "cli" | "http") {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).expect("reading a source file"));
        for needle in [
            "sqlx::query",
            "query_as",
            "query_scalar",
            ".execute(",
            ".fetch_one(",
            ".fetch_all(",
            ".fetch_optional(",
            ".begin()",
        ] {
            if text.contains(needle) {
                wrong.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL in a front end:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_one_reads_in_one_sitting() {
    const LIMIT: usize = 650;
    let mut long = Vec::new();
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    let mut files = all_files();
    for krate in ["billrun-core", "billrun-render"] {
        rust_files(&crates.join(krate).join("src"), &mut files);
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        // A file's unit tests are not what one reads to understand it.
        let lines = code_lines_before_tests(&text);
        if lines > LIMIT {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "files over {LIMIT} lines:\n{}",
        long.join("\n")
    );
}

fn code_lines_before_tests(text: &str) -> usize {
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].lines().count(),
        None => text.lines().count(),
    }
}

#[test]
fn crate_paths_finds_single_and_grouped_paths() {
    assert_eq!(
        crate_paths("use crate::queue::JobKind;\nuse crate::{config::Config, store};\nlet x = crate::jobs::run();"),
        ["queue", "config", "store", "jobs"]
    );
    assert_eq!(code("a\n// crate::cli\n  /// crate::app\nb"), "a\nb");
}
