//! The project's own shape, so the next engineer finds what the README and
//! the manual promise: the manual builds with no broken internal link, its
//! API reference is what the code describes, its test list names every
//! test file, the README stays short and points at files that exist, and
//! no crate's files import each other in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

fn root() -> PathBuf {
    devstack::Layout::discover().expect("the repository root").root
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            files_under(&p, ext, out);
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
}

/// Every value of `attr="…"` in the tags of an HTML page (text, code
/// samples included, has its `<` escaped, so whatever follows a `<` is a tag).
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    let mut out = Vec::new();
    for tag in html.split('<').skip(1).filter_map(|t| t.split('>').next()) {
        for (i, _) in tag.match_indices(&needle) {
            out.extend(tag[i + needle.len()..].split('"').next());
        }
    }
    out
}

#[test]
fn the_manual_builds_with_no_broken_internal_link() -> anyhow::Result<()> {
    let root = root();
    let out = root.join("target/e2e/project/book");
    let _ = std::fs::remove_dir_all(&out);
    let status = Command::new("mdbook")
        .arg("build")
        .arg(root.join("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .status()
        .context("running mdbook (scripts/bootstrap.sh installs it)")?;
    anyhow::ensure!(status.success(), "mdbook build failed: {status}");
    let mut pages = Vec::new();
    files_under(&out, "html", &mut pages);
    anyhow::ensure!(pages.len() > 30, "the book has {} pages", pages.len());
    let ids: BTreeMap<PathBuf, BTreeSet<String>> = pages
        .iter()
        .map(|p| {
            let html = std::fs::read_to_string(p).unwrap();
            (p.clone(), attributes(&html, "id").into_iter().map(String::from).collect())
        })
        .collect();
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        // mdbook's not-found page resolves against the site root, not its own folder.
        if page.file_name().is_some_and(|n| n == "404.html") {
            continue;
        }
        let html = std::fs::read_to_string(page)?;
        for link in attributes(&html, "href").into_iter().chain(attributes(&html, "src")) {
            if link.contains("://") || link.starts_with("mailto:") || link.starts_with("javascript:") || link.starts_with("data:") || link.is_empty() {
                continue;
            }
            let (file, anchor) = link.split_once('#').map(|(f, a)| (f, Some(a))).unwrap_or((link, None));
            let file = file.split('?').next().unwrap_or_default();
            let target = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
            let target = normalise(&target);
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.strip_prefix(&out)?.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|a| !a.is_empty()) {
                let known = ids.get(&target).is_some_and(|ids| ids.contains(anchor));
                if !known && target.extension().is_some_and(|e| e == "html") {
                    broken.push(format!("{}: {link} (no such anchor)", page.strip_prefix(&out)?.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{} broken internal links of {checked}:\n{}", broken.len(), broken.join("\n"));
    Ok(())
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_api_reference_is_what_the_code_describes() -> anyhow::Result<()> {
    let dir = root().join("docs/src/api");
    let mut stale = Vec::new();
    for (path, text) in mintmark_e2e::apidoc::pages() {
        let committed = std::fs::read_to_string(dir.join(&path)).unwrap_or_default();
        if committed != text {
            stale.push(path.display().to_string());
        }
    }
    if !stale.is_empty() {
        bail!("docs/src/api/{{{}}} differ from what the code describes: run `make docs-api` and commit them", stale.join(","));
    }
    Ok(())
}

#[test]
fn the_test_list_names_every_test_file_and_nothing_else() -> anyhow::Result<()> {
    let root = root();
    let mut on_disk = BTreeSet::new();
    for dir in ["tests/tests", "dashboards/tests"] {
        for entry in std::fs::read_dir(root.join(dir))? {
            let p = entry?.path();
            if p.extension().is_some_and(|e| e == "rs") {
                on_disk.insert(format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()));
            }
        }
    }
    let list = std::fs::read_to_string(root.join("docs/src/tests.md"))?;
    // An entry is a bullet that starts with the file's path in backticks.
    let listed: BTreeSet<String> = list
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .filter(|p| p.ends_with(".rs") && p.contains("/tests/"))
        .map(String::from)
        .collect();
    let missing: Vec<_> = on_disk.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&on_disk).collect();
    assert!(missing.is_empty() && extra.is_empty(), "docs/src/tests.md lacks {missing:?} and names {extra:?}, which do not exist");
    Ok(())
}

#[test]
fn the_readme_is_short_and_links_only_to_what_exists() -> anyhow::Result<()> {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md"))?;
    let lines = readme.lines().count();
    assert!(lines <= 200, "README.md has {lines} lines: the manual (docs/) is the place for the rest");
    let mut dead = Vec::new();
    for (i, _) in readme.match_indices("](") {
        let link = readme[i + 2..].split(')').next().unwrap_or_default();
        if link.contains("://") || link.starts_with('#') || link.starts_with("mailto:") {
            continue;
        }
        let file = link.split('#').next().unwrap_or_default();
        if !root.join(file).exists() {
            dead.push(link.to_string());
        }
    }
    assert!(dead.is_empty(), "README.md links to files that do not exist: {dead:?}");
    assert!(!readme.contains("../shared/"), "README.md links outside the repository");
    Ok(())
}

/// `scripts/modgraph.py <crate>`: `(from, to)` file edges and whether a circle exists.
fn module_graph(root: &Path, krate: &str) -> anyhow::Result<(Vec<(String, String)>, String)> {
    let out = Command::new("python3").arg(root.join("scripts/modgraph.py")).arg(krate).current_dir(root).output().context("running python3")?;
    anyhow::ensure!(out.status.success(), "modgraph.py {krate}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout)?;
    let edges = text.lines().filter_map(|l| l.split_once(" -> ")).map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let summary = text.lines().filter(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    Ok((edges, summary))
}

#[test]
fn no_crate_imports_in_a_circle_and_the_dashboards_domain_never_imports_web() -> anyhow::Result<()> {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let members: Vec<&str> = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next())
        .context("the workspace lists its members")?
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "found members {members:?}");
    for krate in &members {
        let (edges, summary) = module_graph(&root, krate)?;
        assert!(summary.contains(" 0 circle(s)"), "{krate}'s files import each other in a circle:\n{summary}");
        if *krate == "dashboards" {
            assert!(edges.len() > 100, "the graph read the dashboards ({} edges)", edges.len());
            let upward: Vec<_> = edges.iter().filter(|(a, b)| !a.starts_with("web") && b.starts_with("web")).collect();
            assert!(upward.is_empty(), "domain modules import the web layer: {upward:?}");
        }
    }
    Ok(())
}
