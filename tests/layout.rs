//! The layout draws the data flow, and stays that way: this test reads every
//! `src/` file's references to other modules of the crate (`crate::…`,
//! `super::…`, and `use` of a child module) and fails on an import cycle
//! between files or on an import against the direction of the flow:
//!
//! - `event` imports nothing of the crate;
//! - `broadcast/` imports nothing outside `broadcast/`;
//! - `pipeline/` and `collector/` never import `session/`, `tui/` or `run`;
//! - `session/` never imports `tui/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside the crate, e.g. `["tui", "panes", "events"]`.
type Module = Vec<String>;

/// Every module of `src/` (the library: `main.rs` is the binary), by path.
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                let mut p = prefix.to_vec();
                p.push(name);
                walk(&path, &p, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = match name.as_str() {
                    "mod" | "lib" => prefix.to_vec(),
                    "main" if prefix.is_empty() => continue,
                    _ => {
                        let mut p = prefix.to_vec();
                        p.push(name);
                        p
                    }
                };
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, &[], &mut out);
    out
}

/// The longest known module that `path` (segments after `crate::`) names.
fn resolve(path: &[String], known: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| known.contains_key(m))
}

fn segments(text: &str) -> Vec<String> {
    text.split("::")
        .map(|s| s.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')).to_string())
        .take_while(|s| !s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase() || c == '_'))
        .collect()
}

/// The modules `module` (in `text`) refers to.
fn imports(module: &Module, text: &str, known: &BTreeMap<Module, PathBuf>) -> BTreeSet<Module> {
    let mut out = BTreeSet::new();
    let is_dir_module = known
        .get(module)
        .is_some_and(|p| p.file_name().is_some_and(|f| f == "mod.rs" || f == "lib.rs"));
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            let after = &rest[i + "crate::".len()..];
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                && let Some(m) = resolve(&segments(after), known)
            {
                out.insert(m);
            }
            rest = after;
        }
        // `super` at the top of a file is its parent module; indented, it is
        // said inside a nested module (`mod tests`), where it is the file itself.
        if let Some(i) = code.find("super::")
            && !code.starts_with(char::is_whitespace)
        {
            let parent = &module[..module.len().saturating_sub(1)];
            let mut path = parent.to_vec();
            path.extend(segments(&code[i + "super::".len()..]));
            if let Some(m) = resolve(&path, known) {
                out.insert(m);
            }
        }
        let trimmed = code.trim_start();
        if let Some(u) = trimmed
            .strip_prefix("use ")
            .or_else(|| trimmed.strip_prefix("pub use "))
        {
            // A child module named first (`use window::…` in a mod.rs).
            let mut path = if is_dir_module { module.clone() } else { Vec::new() };
            path.extend(segments(u));
            if path.len() > module.len()
                && let Some(m) = resolve(&path, known)
                && m.len() > module.len()
            {
                out.insert(m);
            }
        }
    }
    out.remove(module);
    // A reference to the crate root (`crate::foo` where foo is an item of
    // lib.rs) is not an import of another file's code.
    out.remove(&Vec::new());
    out
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    known
        .iter()
        .map(|(m, p)| {
            let text = std::fs::read_to_string(p).unwrap();
            (m.clone(), imports(m, &text, &known))
        })
        .collect()
}

fn name(m: &Module) -> String {
    if m.is_empty() { "lib".into() } else { m.join("::") }
}

fn under(m: &Module, top: &str) -> bool {
    m.first().is_some_and(|f| f == top)
}

/// No two files import each other, directly or through others.
#[test]
fn the_module_graph_has_no_cycles() {
    let g = graph();
    // Depth-first search with colours; a grey node reached again is a cycle.
    fn visit(
        m: &Module,
        g: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in g.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                0 => visit(n, g, state, stack, cycles),
                1 => {
                    let from = stack.iter().position(|x| x == n).unwrap();
                    let mut c: Vec<String> = stack[from..].iter().map(name).collect();
                    c.push(name(n));
                    cycles.push(c.join(" → "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for m in g.keys() {
        if !state.contains_key(m) {
            visit(m, &g, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

/// Imports run with the data flow: the primitives know nothing of what
/// uses them, and the computing layers nothing of the presenting ones.
#[test]
fn imports_run_with_the_data_flow() {
    let g = graph();
    let mut wrong = Vec::new();
    for (m, imports) in &g {
        for i in imports {
            let forbidden = (m == &vec!["event".to_string()])
                || (under(m, "broadcast") && !under(i, "broadcast"))
                || ((under(m, "pipeline") || under(m, "collector"))
                    && (under(i, "session") || under(i, "tui") || under(i, "run")))
                || (under(m, "session") && under(i, "tui"));
            if forbidden {
                wrong.push(format!("{} imports {}", name(m), name(i)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the data flow:\n{}", wrong.join("\n"));
}

/// The checks above see real imports (a guard against a reader that finds nothing).
#[test]
fn the_import_reader_sees_the_layout() {
    let g = graph();
    let tui: Module = vec!["tui".into()];
    assert!(g.contains_key(&tui), "tui/mod.rs is read");
    let tui_imports: Vec<String> = g[&tui].iter().map(name).collect();
    assert!(
        tui_imports.iter().any(|n| n == "run"),
        "tui builds its runs with run::Stack: {tui_imports:?}"
    );
    let app: Module = vec!["tui".into(), "app".into()];
    assert!(
        g[&app].iter().map(name).any(|n| n.starts_with("broadcast")),
        "tui::app imports the broadcaster"
    );
    assert!(
        g.values()
            .flatten()
            .any(|m| m == &vec!["tui".to_string(), "panes".to_string()]),
        "something imports tui::panes"
    );
}
