#!/usr/bin/env python3
"""The import graph between the files of src/, checked.

An edge A -> B means that file A names an item of file B: in a `use`
declaration or as a qualified path (`crate::…`, `super::…`, `self::…`, or a
child module's name) anywhere in its code. Test modules (`#[cfg(test)] mod
… { … }`) and `macro_rules!` bodies (they expand where they are invoked) are
left out. The check fails when

- the graph has a cycle (two files that reach each other), or
- a file of the infrastructure layer (src/thread/, src/sync.rs,
  src/unwind.rs) names a file outside that layer, or
- a face file (lib.rs, a block's mod.rs or single file) is longer than
  FACE_LINES lines: its machinery belongs in a file beside it.

Usage: python3 .ci/layers.py [src] [--graph]
"""
import os
import re
import sys

FACE_LINES = 400
INFRASTRUCTURE = {("thread",), ("sync",), ("unwind",)}


def files_of(root):
    """Module path (a tuple) -> file, for every .rs file under root."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(directory, name)
            module = os.path.relpath(path, root)[:-3].split(os.sep)
            if module[-1] == "mod":
                module = module[:-1]
            if module == ["lib"]:
                module = []
            files[tuple(module)] = path
    return files


def strip(source):
    """The code without comments and string or char literals (kept as
    placeholders, so that braces inside them do not count)."""
    out = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            j = source.find("\n", i)
            i = n if j < 0 else j
        elif source.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if source.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif source.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', source[i:i + 10]) and not re.match(r"\w", source[i - 1:i] or " "):
            hashes = re.match(r"r(#*)\"", source[i:]).group(1)
            end = source.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = end + 1 + len(hashes)
        elif c == '"':
            i += 1
            while i < n and source[i] != '"':
                i += 2 if source[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", source[i:i + 12]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", source[i:i + 12])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(code, open_at):
    """The index just past the brace that closes the one at open_at."""
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(code)


def without(code, pattern):
    """code with every block that starts with pattern (up to its brace) cut."""
    while True:
        m = re.search(pattern, code)
        if not m:
            return code
        brace = code.index("{", m.end() - 1)
        code = code[: m.start()] + code[matching(code, brace):]


def scopes(code, module):
    """(module path, code) for the file's code and each inline module in it."""
    found = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        end = matching(code, m.end() - 1)
        inner = code[m.end():end - 1]
        found.extend(scopes(inner, module + (m.group(1),)))
        code = code[: m.start()] + " " * (end - m.start()) + code[end:]
    return [(module, code)] + found


def use_paths(body):
    """The paths a `use` tree names, braces expanded, renames dropped."""
    body = re.sub(r"\s+as\s+\w+", "", body)
    body = re.sub(r"\s+", "", body)
    m = re.match(r"^(.*?)\{(.*)\}$", body)
    if not m:
        return [body]
    head, inner = m.group(1), m.group(2)
    parts, depth, current = [], 0, ""
    for ch in inner:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return [p for part in parts for p in use_paths(head + part)]


def resolve(segments, module, is_dir, files):
    """The file a path names from `module`, or None outside the crate."""
    if segments[0] == "crate":
        base, rest = [], segments[1:]
    elif segments[0] in ("super", "self"):
        # In a file `a/b.rs` (module a::b), `super` is `a`; in `a/mod.rs`
        # (module a) too, `super` is the parent of `a`.
        base, rest = list(module), segments
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif tuple(module) + (segments[0],) in files:
        base, rest = list(module), segments
    else:
        return None
    path = base + [s for s in rest if s not in ("self", "*", "")]
    for n in range(len(path), -1, -1):
        if tuple(path[:n]) in files:
            return tuple(path[:n])
    return None


def edges_of(files):
    edges = {}
    for module, path in files.items():
        code = strip(open(path, encoding="utf-8").read())
        code = without(code, r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")
        code = without(code, r"macro_rules!\s*\w+\s*\{")
        targets = set()
        for scope, text in scopes(code, module):
            is_dir = path.endswith(("mod.rs", "lib.rs"))
            for m in re.finditer(r"\buse\s+([^;]+);", text):
                for used in use_paths(m.group(1)):
                    t = resolve(used.lstrip(":").split("::"), scope, is_dir, files)
                    if t is not None:
                        targets.add(t)
            text = re.sub(r"\buse\s+[^;]+;", "", text)
            text = re.sub(r"pub\s*\(\s*in\s+[^)]*\)", "", text)
            for m in re.finditer(r"(?<![\w:$])((?:crate|super|self|\w+)(?:::\w+)+)", text):
                t = resolve(m.group(1).split("::"), scope, is_dir, files)
                if t is not None:
                    targets.add(t)
        targets.discard(module)
        edges[module] = targets
    return edges


def cycles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else "src"
    files = files_of(root)
    edges = edges_of(files)
    name = lambda m: "/".join(m) or "lib"
    if "--graph" in sys.argv:
        for m in sorted(edges):
            print(f"{name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}")
    problems = []
    for component in cycles(edges):
        members = sorted(component)
        detail = "; ".join(
            f"{name(a)} -> {name(b)}" for a in members for b in sorted(edges[a]) if b in component
        )
        problems.append(f"cycle between {', '.join(name(m) for m in members)} ({detail})")
    for module, targets in sorted(edges.items()):
        if module[:1] and module[:1] in INFRASTRUCTURE:
            for t in sorted(targets):
                if t[:1] not in INFRASTRUCTURE:
                    problems.append(f"upward: {name(module)} (infrastructure) names {name(t)}")
    for module, path in sorted(files.items()):
        face = len(module) <= 1 or path.endswith("mod.rs")
        if face and module[:1] not in INFRASTRUCTURE:
            lines = sum(1 for _ in open(path, encoding="utf-8"))
            if lines > FACE_LINES:
                problems.append(f"face file {path} has {lines} lines (at most {FACE_LINES})")
    for p in problems:
        print(p)
    print(f"{len(files)} files, {sum(map(len, edges.values()))} edges: "
          + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
