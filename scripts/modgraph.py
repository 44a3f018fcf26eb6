#!/usr/bin/env python3
"""The `use` edges between one crate's source files, and the circles they make.

    scripts/modgraph.py dashboards            # edges and cycles of dashboards/src
    scripts/modgraph.py dashboards --under web  # only files under src/web
    scripts/modgraph.py dashboards --check      # exit 1 if any file circle exists

An edge a -> b means a file names something of module b through `crate::`,
`super::` or `self::` (in a `use` or inline). Each path is resolved to the
longest module prefix that is a file, so `crate::web::page::render` counts
as an edge to `web/page.rs`. `#[cfg(test)]` blocks are skipped: tests may
reach anywhere. Plain Python so anyone can run it without installing a
cargo plugin.
"""
import argparse
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def file_modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(root, f)
                if os.path.basename(p) == "main.rs":
                    continue
                mods[module_of(src, p)] = p
    return mods


def strip_tests(text):
    """Drops `#[cfg(test)] mod … { … }` blocks by brace counting."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]"""
    tree = tree.replace(" ", "").replace("\n", "")
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
    if start is None:
        return [tree]
    prefix, inner = tree[:start], tree[start + 1:tree.rindex("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    paths = []
    for it in filter(None, items):
        for p in expand_use(it):
            paths.append(prefix + p if p != "self" else prefix.rstrip(":"))
    return paths


def references(text):
    text = strip_comments(strip_tests(text))
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]+);", text):
        paths += expand_use(m.group(1))
    for m in re.finditer(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", text):
        paths.append(m.group(1))
    return paths


def resolve(me, is_mod_file, path, mods):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base, rest = me, parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    for n in range(len(rest), -1, -1):
        cand = base + tuple(rest[:n])
        if cand in mods:
            return cand
    return None


def graph(src):
    mods = file_modules(src)
    edges = set()
    for mod, path in mods.items():
        with open(path, encoding="utf-8") as f:
            text = f.read()
        is_mod_file = os.path.basename(path) in ("mod.rs", "lib.rs")
        for ref in references(text):
            target = resolve(mod, is_mod_file, ref, mods)
            if target is not None and target != mod:
                edges.add((mod, target))
    return mods, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one file (Tarjan)."""
    succ = {n: sorted(b for a, b in edges if a == n) for n in nodes}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in sorted(nodes):
        if n not in index:
            visit(n)
    return out


def name(mod):
    return "/".join(mod) or "lib"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("crate", help="the crate's folder, e.g. dashboards")
    ap.add_argument("--under", help="only files under this module path, e.g. web")
    ap.add_argument("--check", action="store_true", help="exit 1 if files import each other in a circle")
    args = ap.parse_args()
    src = os.path.join(args.crate, "src")
    mods, edges = graph(src)
    keep = set(mods)
    if args.under:
        prefix = tuple(args.under.split("/"))
        keep = {m for m in mods if m[:len(prefix)] == prefix}
    edges = {(a, b) for a, b in edges if a in keep and b in keep}
    for a, b in sorted(edges):
        print(f"{name(a)} -> {name(b)}")
    circles = cycles(keep, edges)
    print(f"# {len(keep)} files, {len(edges)} edges, {len(circles)} circle(s)")
    for c in circles:
        print("# circle: " + ", ".join(name(m) for m in c))
    if args.check and circles:
        sys.exit(1)


if __name__ == "__main__":
    main()
