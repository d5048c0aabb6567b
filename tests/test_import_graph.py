"""glwork's import graph, read with `ast` (nothing is imported): no cycles, no reach-ins to privates.

Edges: every `import` / `from ... import` of a glwork module, at module level and inside functions
alike. A function-level import only hides a cycle until that function runs, so both count. Not
counted: imports under `if TYPE_CHECKING:` (never executed), and the implicit import of a parent
package (`import glwork.a.b` runs glwork/a/__init__.py: every submodule would otherwise form a
cycle with a package that re-exports it).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "glwork"


def _modules():
    """{dotted name: (path, package parts)} for every module of glwork."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[:-1]
        if parts[-1] == "__init__":
            parts = package = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, (path, _) in MODULES.items()}


def _runtime_nodes(tree):
    """Every node except those under `if TYPE_CHECKING:`."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree) if id(n) not in skip]


def _known(name):
    """The glwork module `name` names (a module, or a name defined in one: its module)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES else None


def _imports(module):
    _, package = MODULES[module]
    targets = set()
    for node in _runtime_nodes(TREES[module]):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name.split(".")[0] == "glwork")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] + ([node.module] if node.module else [])
                base = ".".join(base)
            else:
                base = node.module or ""
            if base.split(".")[0] != "glwork":
                continue
            for alias in node.names:    # `from . import x` imports module x if there is one
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES else base)
    return {t for t in map(_known, targets) if t and t != module}


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph, start, goal):
    """One import chain from `start` to `goal` (breadth first), for the failure message."""
    seen, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w not in seen:
                seen[w] = v
                queue.append(w)
    chain, v = [], goal
    while v is not None:
        chain.append(v)
        v = seen.get(v)
    return chain[::-1]


def test_the_graph_sees_real_imports():
    # The reader itself: relative, absolute and function-level imports all land on modules.
    assert "glwork.errors" in GRAPH["glwork.session"]
    assert "glwork.providers.base" in GRAPH["glwork.session"]
    assert "glwork.providers" in GRAPH["glwork.session_options"]
    assert "glwork.local" in GRAPH["glwork.offline"]                 # inside a function
    assert "glwork.monitoring.pricing" in GRAPH["glwork.widgets.chat"]


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    described = [" -> ".join(_path(GRAPH, c[0], c[1]) + _path(GRAPH, c[1], c[0])[1:]) for c in cycles]
    assert not cycles, "import cycles:\n  " + "\n  ".join(described)


def test_redis_parts_and_features_do_not_know_each_other():
    # Features ask the backend (glwork.backends) for their part; only it builds the Redis modules,
    # which need nothing of a feature.
    redis = {m for m in MODULES if m.startswith("glwork.backends.redis_")}
    assert len(redis) == 4
    importers = {m for m, targets in GRAPH.items() if targets & redis} - redis
    assert importers <= {"glwork.backends", "glwork.backends.overview"}
    allowed = ("glwork.backends", "glwork.security", "glwork.errors")
    for m in redis:
        assert all(t.startswith(allowed) for t in GRAPH[m]), (m, GRAPH[m])


def test_the_provider_package_knows_nothing_of_cassettes():
    assert not any(t.startswith("glwork.offline") for m in MODULES if m.startswith("glwork.providers")
                   for t in GRAPH[m])


# ---- private names --------------------------------------------------------------------------------
def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_privates(tree):
    """Private names a module defines: its functions, classes and globals, and `self._x` attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
              and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return {n for n in names if _private(n)}


OWN = {m: _own_privates(t) for m, t in TREES.items()}
GLWORK_PRIVATES = set().union(*OWN.values())


def _reach_ins(module):
    """(line, what) for each use of another glwork module's private name. Third-party privates
    (the SDKs' documented `_request_id`, vcrpy's cassette) are not glwork's to make public."""
    found = []
    own = OWN[module]
    for node in _runtime_nodes(TREES[module]):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("glwork")):
            found += [(node.lineno, f"from {'.' * node.level}{node.module or ''} import {a.name}")
                      for a in node.names if _private(a.name)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            name = node.args[1].value
            if _private(name) and name in GLWORK_PRIVATES and name not in own:
                found.append((node.lineno, f"{node.func.id}(..., {name!r})"))
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if node.attr in GLWORK_PRIVATES and node.attr not in own:
                found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_reach_in_finder_sees_one():
    tree = ast.parse("from .pricing import _table\nx = getattr(s, '_closed')\ne._lock.acquire()\n")
    TREES["glwork.fake"], OWN["glwork.fake"] = tree, set()
    MODULES["glwork.fake"] = (ROOT / "fake.py", ["glwork"])
    try:
        found = [what for _, what in _reach_ins("glwork.fake")]
    finally:
        for table in (TREES, OWN, MODULES):
            table.pop("glwork.fake")
    assert found[0] == "from .pricing import _table"
    assert "getattr(..., '_closed')" in found and "e._lock" in found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_reach_ins_to_private_names(module):
    found = _reach_ins(module)
    assert not found, f"{MODULES[module][0].relative_to(ROOT.parent)} uses private names of other modules " \
        f"(make what is shared public):\n  " + "\n  ".join(f"line {n}: {what}" for n, what in sorted(found))
