//! ARCHITECTURE.md's structural invariants, checked on the source: no two
//! modules import each other, however indirectly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of `src/` and its source, without its `#[cfg(test)]` tail.
fn modules() -> BTreeMap<Module, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).expect("under src").with_extension("");
            let mut module: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                module.pop();
            }
            let text = std::fs::read_to_string(&path).expect("source readable");
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default().to_owned();
            out.insert(module, code);
        }
    }
    out
}

/// The module paths a source names: `crate::a::b`, `super::c`, and (in a
/// module with children) `pub use child::…`, with one level of `{…}`.
fn references(module: &Module, is_parent: bool, code: &str) -> Vec<Module> {
    let mut found = Vec::new();
    for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        let mut rest = line;
        while let Some(at) = ["crate::", "super::"].iter().filter_map(|p| rest.find(p).map(|i| (i, *p))).min() {
            let (index, prefix) = at;
            let preceded = rest[..index].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
            let tail = &rest[index + prefix.len()..];
            rest = tail;
            if preceded && prefix == "crate::" && !rest.is_empty() {
                continue;
            }
            let mut base: Module = if prefix == "crate::" { Vec::new() } else { parent_of(module) };
            let mut tail = tail;
            while let Some(more) = tail.strip_prefix("super::") {
                base.pop();
                tail = more;
            }
            found.extend(paths(&base, tail));
        }
        if is_parent {
            if let Some(tail) = line.strip_prefix("pub use ") {
                if !tail.starts_with("crate::") && !tail.starts_with("super::") {
                    found.extend(paths(module, tail));
                }
            }
        }
    }
    found
}

/// `super` in `a/b.rs` and in `a/b/mod.rs` (module a::b) alike is `a`.
fn parent_of(module: &Module) -> Module {
    module[..module.len().saturating_sub(1)].to_vec()
}

/// `a::b::{c::d, e}` after `base` → base::a::b::c::d and base::a::b::e.
fn paths(base: &Module, tail: &str) -> Vec<Module> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut prefix = base.clone();
    let mut tail = tail;
    loop {
        let name = ident(tail);
        if name.is_empty() {
            break;
        }
        prefix.push(name.clone());
        match tail[name.len()..].strip_prefix("::") {
            Some(next) => tail = next,
            None => return vec![prefix],
        }
    }
    match tail.strip_prefix('{') {
        Some(group) => {
            let inner = group.split('}').next().unwrap_or_default();
            inner.split(',').flat_map(|item| paths(&prefix, item.trim())).collect()
        }
        None => vec![prefix],
    }
}

/// Who imports whom: a module may use its ancestors (their re-exports of
/// itself are not a circle), every other reference is an edge.
fn graph(modules: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    let parents: BTreeSet<&Module> =
        modules.keys().filter(|m| modules.keys().any(|c| c.len() == m.len() + 1 && c.starts_with(m))).collect();
    let resolve = |path: &Module| -> Option<Module> {
        (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, code) in modules {
        for target in references(module, parents.contains(module), code).iter().filter_map(resolve) {
            if target != *module && !module.starts_with(&target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

/// A circle in the graph, as the modules along it.
fn find_circle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<String> {
    fn visit(
        at: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut circle = path[start..].to_vec();
            circle.push(at.clone());
            return Some(circle);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.clone());
        for next in edges.get(at).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(at.clone());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|m| visit(m, edges, &mut Vec::new(), &mut done)).map(|circle| {
        let names: Vec<String> =
            circle.iter().map(|m| if m.is_empty() { "crate".into() } else { m.join("::") }).collect();
        names.join(" → ")
    })
}

#[test]
fn no_two_modules_import_each_other_even_through_others() {
    let edges = graph(&modules());
    assert!(edges.len() > 20, "the import graph was not read: {edges:?}");
    if let Some(circle) = find_circle(&edges) {
        panic!("import circle: {circle}");
    }
}

#[test]
fn the_import_check_finds_a_planted_circle_through_a_re_export() {
    let module = |path: &str, code: &str| (path.split("::").map(str::to_owned).collect::<Module>(), code.to_owned());
    let planted: BTreeMap<Module, String> = [
        module("telemetry", "pub use metrics::Metrics;"),
        module("telemetry::metrics", "use crate::supervisor::{Health, Task};"),
        module("supervisor", "use crate::telemetry::{Emit, Metrics};"),
        module("api", "use super::telemetry::Metrics;"),
    ]
    .into_iter()
    .collect();
    let circle = find_circle(&graph(&planted)).expect("a circle");
    assert!(circle.contains("telemetry::metrics → supervisor → telemetry"), "{circle}");
    let without: BTreeMap<Module, String> = planted.into_iter().filter(|(m, _)| m[0] != "supervisor").collect();
    assert_eq!(find_circle(&graph(&without)), None);
}
