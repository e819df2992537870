"""The package's import graph (issue 25): no circle among files, imports only go down the declared
layers, at most 12 modules at the top of ``sealloss/``, no shim or re-export block, no private
name imported across modules.

Every module of ``sealloss/`` and of ``adapters/`` (installed as ``sealloss.adapters``) is parsed
with :mod:`ast`; every import counts: at module level, inside functions and under
``if TYPE_CHECKING:`` (a circle that only type checkers see is still a circle), relative imports
resolved, and ``importlib.import_module`` with a literal name. ``from pkg import name`` imports
the module ``pkg.name`` when there is one, else ``pkg``. Names computed at run time (f-strings)
are not followed.

The checks are plain functions of an import graph or a source text, so the self-tests at the end
feed them synthetic violations and show that each one fails.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: the layers, lowest first: a module may import only from layers below its own (never sideways
#: into another unit of its layer, never up). A unit is a folder of ``sealloss/`` or a module at
#: its top; ``sealloss`` is the package root (the lazy public API, above everything it names).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "defaults", "version"),  # exception types, default constants, the version
    ("pose",),  # skeleton, canonical frame, kinematics, input checks
    ("nn", "negatives", "metrics", "data"),  # loss-nets, negative samplers, metrics, datasets
    ("objectives",),  # training objectives (margin, NCE, score matching) over the nets' energies
    ("io",),  # atomic writes, checkpoints, loss-net weights files
    ("training",),  # the wrapper and its parts, lambda, pretraining, distributed
    ("posthoc",),  # test-time refinement and scoring of finished predictions
    ("adapters", "integrations"),  # backbone adapters, Lightning callback
    ("demo",),  # the demo and benchmark harness, figures
    ("cli",),  # the command line: the top of the library
    ("sealloss",),  # the package root: re-exports the public API (TYPE_CHECKING + lazy)
)

#: the most modules (``.py`` files, ``__init__.py`` included) beside the folders of sealloss/
MAX_TOP_MODULES = 12


# --------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``line`` (the names ``from`` imports)."""

    source: str
    target: str
    line: int
    names: tuple[str, ...] = ()


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    source: str
    edges: list[Edge] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def _module_name(rel: Path, prefix: str) -> tuple[str, bool]:
    parts = rel.with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join((prefix, *parts[:-1])), True
    return ".".join((prefix, *parts)), False


def find_modules(roots: dict[str, Path]) -> dict[str, Module]:
    """Every ``.py`` file under each root folder, by dotted name (``prefix -> folder``)."""
    out = {}
    for prefix, folder in roots.items():
        for path in sorted(folder.rglob("*.py")):
            name, is_pkg = _module_name(path.relative_to(folder), prefix)
            out[name] = Module(name, path, is_pkg, path.read_text(encoding="utf-8"))
    return out


def _absolute(name: str, aliases: dict[str, str]) -> str:
    for old, new in aliases.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return name


def _relative(package: str, level: int, module: str | None) -> str:
    parts = package.split(".")
    base = parts[: len(parts) - level + 1]
    return ".".join(base + ([module] if module else []))


def collect_edges(mod: Module, known: set[str], aliases: dict[str, str]) -> list[Edge]:
    """Imports of ``mod`` that name one of our modules (every import statement anywhere in the
    file, and ``importlib.import_module`` with a literal name). An import of a module of ours
    (``sealloss...``) that is not in ``known`` is kept with that target: it is broken."""
    edges = []
    ours = ("sealloss", *aliases.values())

    def add(target: str, line: int, names: tuple[str, ...] = ()) -> None:
        target = _absolute(target, aliases)
        if target.partition(".")[0] not in {o.partition(".")[0] for o in ours}:
            return
        if target != mod.name:
            edges.append(Edge(mod.name, target, line, names))

    for node in ast.walk(ast.parse(mod.source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                add(a.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (_relative(mod.package, node.level, node.module) if node.level
                    else _absolute(node.module or "", aliases))
            plain = []
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    add(sub, node.lineno)
                else:
                    plain.append(a.name)
            if plain:
                add(base, node.lineno, tuple(plain))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) == "import_module")):
            target = node.args[0].value
            if target.startswith("."):
                level = len(target) - len(target.lstrip("."))
                target = _relative(mod.package, level, target.lstrip(".") or None)
            add(target, node.lineno)
    return edges


def missing_targets(edges: list[Edge], known: set[str]) -> list[str]:
    """Imports of a module of ours that does not exist (moved or deleted)."""
    return sorted(f"{e.source}:{e.line} imports {e.target}, which is no module"
                  for e in edges if e.target not in known)


def load_package() -> dict[str, Module]:
    roots = {"sealloss": REPO / "sealloss", "sealloss.adapters": REPO / "adapters"}
    mods = find_modules(roots)
    known = set(mods)
    for m in mods.values():
        m.edges = collect_edges(m, known, {"adapters": "sealloss.adapters"})
    return mods


# --------------------------------------------------------------------------- checks
def unit_of(module: str) -> str:
    """The layer unit of a module: its folder (or top module) under ``sealloss``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> imported modules): each strongly connected
    component of more than one module, sorted (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return sorted(out)


def layer_violations(edges: list[Edge], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Imports that go up or sideways across units of ``layers``, and modules of no layer."""
    rank = {u: i for i, group in enumerate(layers) for u in group}
    bad = []
    for e in edges:
        src, dst = unit_of(e.source), unit_of(e.target)
        for unit, mod in ((src, e.source), (dst, e.target)):
            if unit not in rank:
                bad.append(f"{mod}: unit {unit!r} is in no layer; add it to LAYERS")
        if src == dst or src not in rank or dst not in rank:
            continue
        if rank[dst] > rank[src]:
            bad.append(f"{e.source}:{e.line} imports {e.target} (up: {src} -> {dst})")
        elif rank[dst] == rank[src]:
            bad.append(f"{e.source}:{e.line} imports {e.target} (sideways: {src} -> {dst})")
    return sorted(set(bad))


def top_modules(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.py"))


def _all_names(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                value = node.value
                if isinstance(value, ast.List | ast.Tuple):
                    return {e.value for e in value.elts if isinstance(e, ast.Constant)}
    return set()


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def reexport_problems(name: str, source: str, is_package: bool, package: str) -> list[str]:
    """Shims and re-export blocks of a module (package ``__init__`` files, whose job is to
    name their package's API, are exempt from the first three):

    - a module that only imports (docstring, imports, ``__all__``, ``TYPE_CHECKING``);
    - a module-level ``__getattr__`` (serves names that live elsewhere);
    - a name imported from a module of ours and listed in ``__all__``, or never used;
    - anywhere: an assignment into ``sys.modules`` (a module swapped for another).
    """
    tree = ast.parse(source)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Subscript) and ast.unparse(t.value).endswith("sys.modules"):
                    out.append(f"{name}:{node.lineno}: assigns into sys.modules")
    if is_package:
        return out
    body = [n for n in tree.body if not (isinstance(n, ast.Expr)
                                         and isinstance(n.value, ast.Constant))]
    imports_only = all(isinstance(n, ast.Import | ast.ImportFrom) or _is_type_checking(n)
                       or (isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__")
                       for n in body)
    if body and imports_only:
        out.append(f"{name}: only re-exports (no code of its own): delete it, import from the "
                   "defining modules")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__" and any(
                isinstance(n, ast.Import | ast.ImportFrom)
                or (isinstance(n, ast.Attribute) and n.attr == "import_module")
                for n in ast.walk(node)):
            out.append(f"{name}:{node.lineno}: module __getattr__ serves names of other modules")
    exported = _all_names(tree)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {w for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
             for w in re.findall(r"\w+", n.value)}  # string annotations
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _relative(package, node.level, node.module) if node.level else node.module or ""
        if base != "sealloss" and not base.startswith("sealloss."):
            continue
        for a in node.names:
            local = a.asname or a.name
            if local in exported:
                out.append(f"{name}:{node.lineno}: re-exports {a.name} of {base} in __all__")
            elif local not in used:
                out.append(f"{name}:{node.lineno}: imports {a.name} of {base} but never uses it "
                           "(a re-export)")
    return out


def private_imports(edges: list[Edge], packages: dict[str, str]) -> list[str]:
    """Private names imported by another module, and private modules imported from outside
    their package (``packages``: module -> its package)."""
    bad = []
    for e in edges:
        for n in e.names:
            if n.startswith("_") and not n.startswith("__"):
                bad.append(f"{e.source}:{e.line} imports the private name {n} of {e.target}: "
                           "make it public (it is shared) or move it to where it is used")
        parts = e.target.split(".")
        for i, p in enumerate(parts):
            if p.startswith("_") and not p.startswith("__"):
                owner = ".".join(parts[:i])
                src_pkg = packages.get(e.source, e.source.rpartition(".")[0])
                if not (src_pkg == owner or src_pkg.startswith(owner + ".")):
                    bad.append(f"{e.source}:{e.line} imports the private module {e.target} "
                               f"from outside {owner}")
                break
    return sorted(set(bad))


# --------------------------------------------------------------------------- the package
MODULES = load_package()
ALL_EDGES = [e for m in MODULES.values() for e in m.edges]
EDGES = [e for e in ALL_EDGES if e.target in MODULES]


def _graph(edges: list[Edge]) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for e in edges:
        g.setdefault(e.source, set()).add(e.target)
    return g


def test_every_import_names_a_module() -> None:
    bad = missing_targets(ALL_EDGES, set(MODULES))
    assert not bad, "\n".join(bad)


def test_no_import_circle() -> None:
    cycles = find_cycles(_graph(EDGES))
    lines = {(e.source, e.target): e.line for e in EDGES}
    detail = [" / ".join(f"{a} -> {b}:{lines[a, b]}" for a in c for b in c if (a, b) in lines)
              for c in cycles]
    assert not cycles, "import circles (TYPE_CHECKING and function-level imports count):\n" + (
        "\n".join(detail))


def test_imports_go_down_the_layers() -> None:
    bad = layer_violations(EDGES, LAYERS)
    assert not bad, "imports against the layer order " + " < ".join(
        ", ".join(g) for g in LAYERS) + ":\n" + "\n".join(bad)


def test_at_most_12_modules_at_the_top() -> None:
    top = top_modules(REPO / "sealloss")
    assert len(top) <= MAX_TOP_MODULES, f"{len(top)} modules at the top of sealloss/: {top}"


def test_no_shim_or_reexport_block() -> None:
    bad = [p for m in MODULES.values()
           for p in reexport_problems(m.name, m.source, m.is_package, m.package)]
    assert not bad, "\n".join(bad)


def test_no_private_name_across_modules() -> None:
    bad = private_imports(EDGES, {m.name: m.package for m in MODULES.values()})
    assert not bad, "\n".join(bad)


def test_every_module_is_seen() -> None:
    """The parser finds the package (and its adapters), the imports inside functions and under
    TYPE_CHECKING, and the real graph has edges into every layer but the root's."""
    assert {"sealloss", "sealloss.cli.main", "sealloss.adapters", "sealloss.pose.skeleton",
            "sealloss.io.weights"} <= set(MODULES)
    units = {unit_of(e.target) for e in EDGES}
    assert units >= {u for g in LAYERS[:-2] for u in g} - {"integrations", "adapters"}


# --------------------------------------------------------------------------- self-tests
def _mod(name: str, source: str, is_package: bool = False) -> Module:
    return Module(name, Path(name.replace(".", "/") + ".py"), is_package, source)


def test_self_test_parser_sees_every_kind_of_import() -> None:
    src = ("from __future__ import annotations\n"
           "from typing import TYPE_CHECKING\n"
           "import importlib\n"
           "if TYPE_CHECKING:\n"
           "    from ..training.wrapper import AlternatingWrapper\n"
           "def f():\n"
           "    from . import atomic\n"
           "    from ..version import __version__\n"
           "    import adapters.base\n"
           "    return importlib.import_module('..nn.mlp', __package__)\n")
    known = {"sealloss", "sealloss.version", "sealloss.io", "sealloss.io.atomic",
             "sealloss.io.weights",
             "sealloss.training.wrapper", "sealloss.adapters.base", "sealloss.nn.mlp"}
    src += "from .gone import thing\nimport numpy\n"
    edges = collect_edges(_mod("sealloss.io.weights", src), known,
                          {"adapters": "sealloss.adapters"})
    assert missing_targets(edges, known) == [
        "sealloss.io.weights:11 imports sealloss.io.gone, which is no module"]
    edges = [e for e in edges if e.target in known]
    assert {(e.target, e.names) for e in edges} == {
        ("sealloss.training.wrapper", ("AlternatingWrapper",)), ("sealloss.io.atomic", ()),
        ("sealloss.version", ("__version__",)), ("sealloss.adapters.base", ()),
        ("sealloss.nn.mlp", ()),
    }


def test_self_test_a_circle_fails() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(g) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_self_test_up_and_sideways_imports_fail() -> None:
    edges = [
        Edge("sealloss.pose.skeleton", "sealloss.cli._common", 3),  # up
        Edge("sealloss.nn.base", "sealloss.metrics.position", 4),  # sideways in one layer
        Edge("sealloss.cli.main", "sealloss.pose.skeleton", 5),  # down: fine
        Edge("sealloss.io.weights", "sealloss.io.atomic", 6),  # inside a unit: fine
        Edge("sealloss.newfolder.x", "sealloss.errors", 7),  # a unit of no layer
    ]
    bad = layer_violations(edges, LAYERS)
    assert any("up: pose -> cli" in b for b in bad)
    assert any("sideways: nn -> metrics" in b for b in bad)
    assert any("'newfolder' is in no layer" in b for b in bad)
    assert len(bad) == 3, bad


def test_self_test_too_many_top_modules_fails(tmp_path: Path) -> None:
    for i in range(MAX_TOP_MODULES + 1):
        (tmp_path / f"m{i}.py").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inner.py").write_text("")
    assert len(top_modules(tmp_path)) == MAX_TOP_MODULES + 1


def test_self_test_shims_and_reexports_fail() -> None:
    shim = '"""Old path."""\nfrom .skeleton_plots import plot_blame  # noqa: F401\n' \
           '__all__ = ["plot_blame"]\n'
    assert any("only re-exports" in p for p in
               reexport_problems("sealloss.demo.plots", shim, False, "sealloss.demo"))
    block = ("from .graph_batch import _as_list, poses_to_batch  # noqa: F401\n"
             "__all__ = ['Net', 'poses_to_batch']\n"
             "class Net:\n    pass\n")
    probs = reexport_problems("sealloss.nn.graphormer", block, False, "sealloss.nn")
    assert any("re-exports poses_to_batch" in p for p in probs)
    assert any("imports _as_list" in p and "never uses it" in p for p in probs)
    served = "def __getattr__(name):\n    from ..demo import runner\n    " \
             "return getattr(runner, name)\n"
    assert any("__getattr__" in p for p in
               reexport_problems("sealloss.cli.main", served, False, "sealloss.cli"))
    built = "_C = {}\ndef __getattr__(name):\n    return _C[name]\n"  # builds its own names
    assert reexport_problems("sealloss.integrations.x", built, False,
                             "sealloss.integrations") == []
    swap = "import sys\nfrom . import skeleton\nsys.modules[__name__ + '.old'] = skeleton\n"
    assert any("sys.modules" in p for p in
               reexport_problems("sealloss.pose", swap, True, "sealloss.pose"))
    used = "from .graph_batch import poses_to_batch\ndef f(x):\n    return poses_to_batch(x)\n"
    assert reexport_problems("sealloss.nn.graphormer", used, False, "sealloss.nn") == []
    # a package __init__ names its package's API: not a re-export block
    init = "from .skeleton_plots import plot_blame\n__all__ = ['plot_blame']\n"
    assert reexport_problems("sealloss.demo", init, True, "sealloss.demo") == []


def test_self_test_private_names_across_modules_fail() -> None:
    edges = [
        Edge("sealloss.demo.runner", "sealloss.cli._common", 3, ("load_pairs",)),
        Edge("sealloss.cli.score", "sealloss.cli._common", 4, ("check_output",)),
        Edge("sealloss.io.weights", "sealloss.io.format", 5, ("_digest",)),
    ]
    pk = {"sealloss.demo.runner": "sealloss.demo", "sealloss.cli.score": "sealloss.cli",
          "sealloss.io.weights": "sealloss.io"}
    bad = private_imports(edges, pk)
    assert len(bad) == 2, bad
    assert any("private module sealloss.cli._common from outside sealloss.cli" in b for b in bad)
    assert any("private name _digest" in b for b in bad)
