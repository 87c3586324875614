//! The layers of `api/src`, checked: every `crate::` path of every file is
//! an import of one top-level module by another, and the imports must form
//! no circle and never go from a lower layer to a higher one (a service
//! reaches a higher layer only through an interface of its own, such as
//! `service::consultation::tally_feed::TallyPublisher`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module's layer: a module may import its own layer and
/// those below, never one above. A new module must be placed here.
const LAYERS: &[(&str, u8)] = &[
    ("cli", 9),
    ("seed", 8),
    ("http", 7),
    ("jobs", 6),
    ("graphql", 5),
    ("realtime", 4),
    ("service", 3),
    ("policy", 2),
    ("audit", 2),
    ("state", 1),
    ("auth", 1),
    ("db", 1),
    ("ratelimit", 1),
    ("metrics", 1),
    ("telemetry", 1),
    ("config", 1),
    ("crypto", 1),
    ("error", 0),
];

/// The top-level modules named by `crate::` paths in `source`, comments
/// left out (`use crate::{a, b::c}` names `a` and `b`).
fn imported_modules(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    // A `use crate::{…}` group may span lines: the code is read as one text.
    let code: String = source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // The brace that closes the group (groups nest).
                let mut open = 1;
                let end = group
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => open += 1,
                            '}' => open -= 1,
                            _ => {}
                        }
                        open == 0
                    })
                    .map_or(group.len(), |(at, _)| at);
                // Only the first name of each item at the group's top level.
                let mut depth = 0;
                let mut item_start = true;
                let mut name = String::new();
                for c in group[..end].chars() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            if !name.is_empty() {
                                found.insert(std::mem::take(&mut name));
                            }
                            item_start = true;
                        }
                        c if item_start && depth == 0 && (c.is_alphanumeric() || c == '_') => {
                            name.push(c)
                        }
                        c if c.is_whitespace() && name.is_empty() => {}
                        _ => {
                            if !name.is_empty() {
                                found.insert(std::mem::take(&mut name));
                            }
                            item_start = false;
                        }
                    }
                }
                if !name.is_empty() {
                    found.insert(name);
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let first = relative
                .components()
                .next()
                .map(|c| {
                    c.as_os_str()
                        .to_string_lossy()
                        .trim_end_matches(".rs")
                        .to_string()
                })
                .unwrap_or_default();
            // This file names modules in its own test strings.
            if matches!(first.as_str(), "lib" | "main" | "layers") {
                continue;
            }
            out.push((first, std::fs::read_to_string(&path).unwrap_or_default()));
        }
    }
}

/// Who imports whom among the top-level modules of `api/src`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in files {
        let imports = imported_modules(&source);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(imports.into_iter().filter(|m| *m != module));
    }
    graph
}

/// A circle of `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_top_level_modules() {
        let source = "use crate::{db::begin_write, error::{A, B}, policy};\n\
                      // use crate::http::Nope;\n\
                      let x = crate::service::auth::f(crate::state::S);\n\
                      use crate::{\n    audit,\n    jobs::{x, y},\n};";
        let found: Vec<String> = imported_modules(source).into_iter().collect();
        assert_eq!(
            found,
            ["audit", "db", "error", "jobs", "policy", "service", "state"]
        );
    }

    #[test]
    fn a_circle_is_found() {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        graph.entry("a".into()).or_default().insert("b".into());
        graph.entry("b".into()).or_default().insert("c".into());
        assert_eq!(circle(&graph), None);
        graph.entry("c".into()).or_default().insert("a".into());
        assert_eq!(
            circle(&graph),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }

    #[test]
    fn the_modules_of_api_form_layers_without_circles() {
        let graph = graph();
        assert!(graph.contains_key("service") && graph.contains_key("http"));
        if let Some(found) = circle(&graph) {
            panic!(
                "modules import each other in a circle: {}",
                found.join(" → ")
            );
        }
        let layer = |module: &str| LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l);
        let mut against = Vec::new();
        for (module, imports) in &graph {
            let Some(own) = layer(module) else {
                panic!("module `{module}` has no layer in layers.rs: place it");
            };
            for import in imports {
                let Some(theirs) = layer(import) else {
                    panic!("`{module}` imports `{import}`, which has no layer in layers.rs");
                };
                if theirs > own {
                    against.push(format!("{module} → {import}"));
                }
            }
        }
        assert!(
            against.is_empty(),
            "imports against the layers: {against:?}"
        );
        // Said outright: the services never name the layers above them.
        for higher in ["http", "graphql", "jobs", "realtime"] {
            assert!(
                !graph["service"].contains(higher),
                "service imports {higher}"
            );
        }
        assert!(!graph["state"].contains("service"), "state imports service");
    }
}
