"""The architecture figures of issue 20, measured from the source with :mod:`ast`.

Run ``python tools/architecture_report.py [--json out.json] [--src src/synerec] [--check]``. It
prints a table (each figure beside the issue's target, ``ok`` or ``over``) and the items behind
each figure (``file:line``), and writes the same as JSON with ``--json``. It exits 0 (it is a
report) unless ``--check`` is given; then it exits 1 when a target is missed. It needs only the
standard library and never imports the package it measures.

Definitions (``pkg`` is the measured package, ``synerec``; a *file* is one ``.py`` file; its
*folder* is the top-level package under ``pkg`` it lies in, ``(root)`` for ``pkg/*.py``):

Import graph
    An *import* is an ``import pkg.x`` or ``from pkg.x import y`` statement (relative ones
    resolved against the importing module's package), or a call ``importlib.import_module(s)`` /
    ``import_module(s)`` / ``__import__(s)`` whose ``s`` is a string literal naming a ``pkg``
    module (an *import by string*). ``from P import y`` points at ``P.y`` when that is a module of
    the tree, else at ``P``. The parent packages that Python runs on the way are not added as
    arrows. Imports under ``if TYPE_CHECKING:`` never run; they are left out of the graph and
    counted apart. Calls of ``import_module`` with a non-literal argument cannot be resolved; they
    are listed as *dynamic imports* and are not arrows.
*Function-level imports*
    Import statements (and imports by string) of ``pkg`` modules that lie inside a ``def`` /
    ``async def`` (at any depth); one per statement.
*Import circles*
    The strongly connected components (Tarjan) of the graph of all run-time arrows, module-level
    and function-level, with two files or more. Figures: the number of files of the largest, and
    the number of circles whose files lie in more than one folder. Target: largest <= 3, none
    across folders. The circles of the module-level arrows alone are listed too (information).
*Upward arrows*
    Each module has the layer of its first name under ``pkg`` (0 foundation: ``exceptions``,
    ``_config``, ``_rng``, ``_version``, ``_list_length``, ``_markdown``, ``topk``, ``ranking``
    and the package root ``pkg/__init__.py``; 1 ``data``; 2 ``similarity``, ``metrics``, ``text``,
    ``rules``;
    3 ``algorithms``; 4 ``llm``; 5 ``hybrid``; 6 ``models``; 7 ``evaluation``, ``distributed``;
    8 ``service``; 9 ``console``; 10 ``cli``). A run-time arrow from layer a to layer b > a is a
    violation, wherever it is written (module level or inside a function). The package root may
    re-export lazily: its imports of higher layers inside functions (a module ``__getattr__``)
    are listed apart and are not violations; its module-level ones are. A module whose first name
    is in no layer is listed as *unlayered*. Target: 0.
*Probes of model abilities*
    *Model classes* are the classes defined in ``algorithms/`` or ``hybrid/`` that are, or inherit
    directly or not (bases matched by name) from, ``ScoringModel`` or ``Recommender``. Their
    *attribute names* are the names of their methods and class attributes and every
    ``self.<name> = ...`` assigned in their bodies, less dunder names and names defined on
    ``object``. A probe is a call ``getattr(x, "name", default)`` (three arguments) or
    ``hasattr(x, "name")`` anywhere in the package whose literal ``"name"`` is such an attribute
    name. Target: <= 5. The same count restricted to the names that end in ``_`` or are one of
    ``explain_list``, ``predicts_ratings``, ``score_contributions``, ``similar_items``,
    ``llm_enabled`` is shown beside it (information).
*Concrete model class checks*
    Calls ``isinstance(x, C)`` / ``issubclass(x, C)`` (``C`` a name, a dotted name or a tuple of
    them; import aliases resolved) outside ``algorithms/`` whose ``C`` is a *concrete model
    class*: a class registered with ``@register_model`` (or ``register_model(name, C)``), or a
    class of ``algorithms/`` or ``hybrid/`` that inherits, directly or not, from ``Recommender``
    (``Recommender`` itself and ``ScoringModel`` are the contract, not concrete). Target: 0.
*``_pending_``*
    The attribute names starting with ``_pending`` that are assigned on ``self`` in
    ``algorithms/``, ``hybrid/`` or ``llm/``; the figure is the number of occurrences (reads and
    writes, ``x._pending_y`` or ``getattr``/``setattr``/``hasattr`` with the literal name) of
    those names in those folders. Target: 0.
*Signature sniffing*
    Calls ``inspect.signature(a.b)`` (or ``signature`` imported from :mod:`inspect`) whose
    argument is an attribute of something other than ``cls`` / ``self`` (so
    ``inspect.signature(cls.__init__)`` in ``algorithms/params.py`` is not one, and
    ``inspect.signature(model.fit)`` is): deciding what to pass to another object by reading its
    signature. Calls on a plain name are listed apart (information). Target: 0.
*Known-user rule copies outside the model*
    Comparisons (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``) outside ``algorithms/`` and
    ``hybrid/`` in which one operand mentions an attribute ``user_count_`` or ``item_count_``
    (``model.user_count_[u]``, ``np.asarray(m.item_count_)``) and another is the literal ``0``.
    Target: 0.
*``type: ignore``*
    Comments (read with :mod:`tokenize`) that contain ``type: ignore``; and those whose codes
    include ``attr-defined``. Targets: <= 15 and <= 3.
*Long files and functions*
    A file's length is its number of lines; target: none over 700. A function's length is
    ``end_lineno - lineno + 1`` of its ``def`` / ``async def`` (decorators not counted, docstring
    and nested functions counted); methods and nested functions are counted each on their own.
    Target: <= 12 functions over 80 lines.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import sys
import tokenize
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SRC = REPO / "src" / "synerec"

#: Layer of each first name under the package (lower may never import higher).
LAYERS: dict[str, int] = {
    **{name: 0 for name in ("exceptions", "_config", "_rng", "_version", "_list_length",
                            "_markdown", "_lazy", "_progress", "_topk_kernels", "topk",
                            "ranking")},
    "data": 1,
    "similarity": 2, "metrics": 2, "text": 2, "rules": 2,
    "algorithms": 3,
    "llm": 4,
    "hybrid": 5,
    "models": 6,
    "evaluation": 7, "distributed": 7,
    "service": 8,
    "console": 9,
    "cli": 10,
}
ROOT_LAYER = 0
MODEL_ROOTS = ("ScoringModel", "Recommender")
CONTRACT_CLASSES = frozenset(MODEL_ROOTS)
MODEL_FOLDERS = ("algorithms", "hybrid")
PENDING_FOLDERS = ("algorithms", "hybrid", "llm")
NAMED_ABILITIES = frozenset({"explain_list", "predicts_ratings", "score_contributions",
                             "similar_items", "llm_enabled"})
COUNT_ATTRIBUTES = frozenset({"user_count_", "item_count_"})
MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80
_TYPE_IGNORE = re.compile(r"type:\s*ignore(?:\[([^\]]*)\])?")
_OBJECT_NAMES = frozenset(dir(object))


# ---------------------------------------------------------------------------------------------
# Reading the package


@dataclass
class Module:
    """One ``.py`` file of the measured package."""

    name: str  #: dotted module name (``synerec.algorithms.knn``; a package is its ``__init__``)
    path: Path
    rel: str  #: path relative to the folder above the package (``synerec/algorithms/knn.py``)
    is_package: bool
    text: str
    tree: ast.Module
    _nodes: list[tuple[ast.AST, _Ctx]] | None = field(default=None, repr=False)

    @property
    def first(self) -> str:
        """The first name under the package (``algorithms``); ``""`` for the package root."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""

    @property
    def folder(self) -> str:
        """The top-level package the file lies in; ``(root)`` for the package's own files."""
        parts = self.name.split(".")
        if len(parts) > 2 or (len(parts) == 2 and self.is_package):
            return parts[1]
        return "(root)"

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())

    def nodes(self) -> list[tuple[ast.AST, _Ctx]]:
        """Every node of the file with its context (see :func:`walk`), read once."""
        if self._nodes is None:
            self._nodes = list(walk(self.tree))
        return self._nodes


def load_package(src: Path) -> dict[str, Module]:
    """Every module of the package at ``src`` (a folder with ``__init__.py``), by dotted name."""
    src = Path(src).resolve()
    if not (src / "__init__.py").is_file():
        raise SystemExit(f"{src} is not a package (no __init__.py)")
    pkg = src.name
    modules: dict[str, Module] = {}
    for path in sorted(src.rglob("*.py")):
        rel_parts = path.relative_to(src).with_suffix("").parts
        if any(not p.isidentifier() for p in rel_parts):
            continue
        is_package = rel_parts[-1] == "__init__"
        parts = (pkg, *rel_parts[:-1]) if is_package else (pkg, *rel_parts)
        text = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        modules[name] = Module(name=name, path=path, rel=f"{pkg}/{path.relative_to(src)}",
                               is_package=is_package, text=text,
                               tree=ast.parse(text, filename=str(path)))
    return modules


def package_name(modules: dict[str, Module]) -> str:
    return min(modules, key=len).split(".")[0]


def layer_of(module: str) -> int | None:
    """The layer of a dotted module name; ``None`` when its first name is in no layer."""
    parts = module.split(".")
    if len(parts) == 1:
        return ROOT_LAYER
    return LAYERS.get(parts[1])


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


@dataclass
class _Ctx:
    in_function: bool = False
    type_checking: bool = False
    scope: tuple[str, ...] = ()  #: enclosing classes and functions (for qualified names)
    classes: tuple[str, ...] = ()  #: enclosing class names only


def walk(tree: ast.AST) -> Iterator[tuple[ast.AST, _Ctx]]:
    """Every node with its context: inside a function?, under ``if TYPE_CHECKING:``?, scope."""
    stack: list[tuple[ast.AST, _Ctx]] = [(tree, _Ctx())]
    while stack:
        node, ctx = stack.pop()
        yield node, ctx
        children: list[tuple[ast.AST, _Ctx]]
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            tc = _Ctx(ctx.in_function, True, ctx.scope, ctx.classes)
            children = [(node.test, ctx)]
            children += [(n, tc) for n in node.body]
            children += [(n, ctx) for n in node.orelse]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = _Ctx(True, ctx.type_checking, (*ctx.scope, node.name), ctx.classes)
            children = [(n, inner) for n in ast.iter_child_nodes(node)]
        elif isinstance(node, ast.Lambda):
            inner = _Ctx(True, ctx.type_checking, (*ctx.scope, "<lambda>"), ctx.classes)
            children = [(n, inner) for n in ast.iter_child_nodes(node)]
        elif isinstance(node, ast.ClassDef):
            inner = _Ctx(ctx.in_function, ctx.type_checking, (*ctx.scope, node.name),
                         (*ctx.classes, node.name))
            children = [(n, inner) for n in ast.iter_child_nodes(node)]
        else:
            children = [(n, ctx) for n in ast.iter_child_nodes(node)]
        stack.extend(reversed(children))


def _str_arg(call: ast.Call, pos: int, kw: str | None = None) -> ast.expr | None:
    if len(call.args) > pos:
        return call.args[pos]
    for k in call.keywords:
        if k.arg == kw:
            return k.value
    return None


def _line(node: ast.AST) -> int:
    """The line of a statement or expression (0 for a node without one)."""
    return int(getattr(node, "lineno", 0))


def _callee(call: ast.Call) -> str:
    """The called name: ``f`` for ``f(...)``, ``attr`` for ``x.attr(...)``, else ``""``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


# ---------------------------------------------------------------------------------------------
# Import graph


@dataclass(frozen=True)
class Import:
    """One import of a package module, as written in ``source`` at ``line``."""

    source: str
    target: str
    file: str
    line: int
    level: str  #: "module", "function" or "type_checking"
    how: str  #: "import", "from" or "string"

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ImportScan:
    imports: list[Import] = field(default_factory=list)
    dynamic: list[dict[str, Any]] = field(default_factory=list)
    statements_in_functions: int = 0

    def runtime(self) -> list[Import]:
        return [i for i in self.imports if i.level != "type_checking"]


def _package_of(mod: Module) -> str:
    return mod.name if mod.is_package else mod.name.rpartition(".")[0]


def _resolve_relative(mod: Module, level: int, name: str | None) -> str:
    base = _package_of(mod).split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def scan_imports(modules: dict[str, Module]) -> ImportScan:
    """All imports of package modules (see the module docstring for what counts)."""
    pkg = package_name(modules)
    scan = ImportScan()

    def ours(target: str) -> bool:
        return target == pkg or target.startswith(pkg + ".")

    for mod in modules.values():
        for node, ctx in mod.nodes():
            level = ("type_checking" if ctx.type_checking
                     else "function" if ctx.in_function else "module")
            targets: list[tuple[str, str]] = []
            if isinstance(node, ast.Import):
                targets = [(a.name, "import") for a in node.names if ours(a.name)]
            elif isinstance(node, ast.ImportFrom):
                base = (_resolve_relative(mod, node.level, node.module) if node.level
                        else node.module or "")
                if not ours(base):
                    continue
                seen: set[str] = set()
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    t = sub if sub in modules else base
                    if t not in seen:
                        seen.add(t)
                        targets.append((t, "from"))
            elif isinstance(node, ast.Call) and _callee(node) in ("import_module",
                                                                    "__import__"):
                arg = _str_arg(node, 0, "name")
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    target = arg.value
                    if target.startswith("."):
                        target = _resolve_relative(mod, len(target) - len(target.lstrip(".")),
                                                   target.lstrip(".") or None)
                    if ours(target):
                        targets = [(target, "string")]
                else:
                    scan.dynamic.append({"where": f"{mod.rel}:{node.lineno}",
                                         "argument": ast.unparse(arg) if arg else ""})
            if not targets:
                continue
            if level == "function":
                scan.statements_in_functions += 1
            for target, how in targets:
                scan.imports.append(Import(mod.name, target, mod.rel, _line(node), level, how))
    return scan


def strongly_connected(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with two nodes or more, largest first."""
    graph: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in graph and b in graph and a != b and b not in graph[a]:
            graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            recurse = False
            for j in range(i, len(graph[v])):
                w = graph[v][j]
                if w not in index:
                    work.append((v, j + 1))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(found, key=lambda c: (-len(c), c))


def import_circles(modules: dict[str, Module], imports: Sequence[Import]) -> list[dict[str, Any]]:
    """The import circles of ``imports``, each with its files, folders and inner arrows."""
    comps = strongly_connected(modules, ((i.source, i.target) for i in imports))
    circles = []
    for comp in comps:
        members = set(comp)
        folders = sorted({modules[m].folder for m in comp})
        arrows = sorted({f"{i.where()} -> {i.target}" + (" (by string)" if i.how == "string"
                                                          else "")
                         + (" (in a function)" if i.level == "function" else "")
                         for i in imports if i.source in members and i.target in members},
                        key=_where_key)
        circles.append({"size": len(comp), "files": [modules[m].rel for m in comp],
                        "folders": folders, "across_folders": len(folders) > 1,
                        "arrows": arrows})
    return circles


def upward_arrows(modules: dict[str, Module], scan: ImportScan) -> dict[str, list[str]]:
    """Arrows from a lower layer to a higher one; the root's lazy re-exports; unlayered modules."""
    pkg = package_name(modules)
    violations, root_lazy, type_checking = [], [], []
    for imp in scan.imports:
        a, b = layer_of(imp.source), layer_of(imp.target)
        if a is None or b is None or a >= b:
            continue
        text = f"{imp.where()} -> {imp.target} (layer {a} -> {b})"
        if imp.level == "type_checking":
            type_checking.append(text)
        elif imp.source == pkg and imp.level == "function":
            root_lazy.append(text)
        else:
            violations.append(text + (" (in a function)" if imp.level == "function" else ""))
    unlayered = sorted({m for m in modules if layer_of(m) is None}
                       | {i.target for i in scan.imports if layer_of(i.target) is None})
    return {"violations": violations, "root_lazy_reexports": root_lazy,
            "type_checking_only": type_checking, "unlayered_modules": unlayered}


# ---------------------------------------------------------------------------------------------
# Model classes


def _base_name(expr: ast.expr) -> str:
    if isinstance(expr, ast.Subscript):
        return _base_name(expr.value)
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    return ""


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, ast.AnnAssign | ast.AugAssign):
        return [node.target]
    return []


def _flatten(t: ast.expr) -> Iterator[ast.expr]:
    if isinstance(t, ast.Tuple | ast.List):
        for e in t.elts:
            yield from _flatten(e)
    elif isinstance(t, ast.Starred):
        yield from _flatten(t.value)
    else:
        yield t


@dataclass
class ModelClasses:
    """The model classes of ``algorithms/`` and ``hybrid/`` and their attribute names."""

    models: dict[str, str]  #: class name -> file:line (inherit from ScoringModel/Recommender)
    concrete: dict[str, str]  #: registered or strict Recommender subclasses -> file:line
    attributes: dict[str, list[str]]  #: attribute name -> classes defining it


def _inherits(name: str, bases: dict[str, set[str]], roots: Iterable[str]) -> bool:
    roots = set(roots)
    seen: set[str] = set()
    todo = [name]
    while todo:
        c = todo.pop()
        if c in roots:
            return True
        if c in seen:
            continue
        seen.add(c)
        todo.extend(bases.get(c, ()))
    return False


def model_classes(modules: dict[str, Module]) -> ModelClasses:
    classes: dict[str, tuple[Module, ast.ClassDef]] = {}
    bases: dict[str, set[str]] = {}
    registered: set[str] = set()
    for mod in modules.values():
        for node, _ in mod.nodes():
            if isinstance(node, ast.Call) and _callee(node) == "register_model":
                if len(node.args) > 1:
                    registered.add(_base_name(node.args[1]))
            if not isinstance(node, ast.ClassDef):
                continue
            bases.setdefault(node.name, set()).update(_base_name(b) for b in node.bases)
            if mod.folder in MODEL_FOLDERS:
                classes[node.name] = (mod, node)
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and _callee(dec) == "register_model":
                    registered.add(node.name)
    models: dict[str, str] = {}
    concrete: dict[str, str] = {}
    attributes: dict[str, set[str]] = {}
    for name, (mod, node) in sorted(classes.items()):
        if not _inherits(name, bases, MODEL_ROOTS):
            continue
        models[name] = f"{mod.rel}:{node.lineno}"
        if name not in CONTRACT_CLASSES and (
                name in registered or _inherits(name, bases, ["Recommender"])):
            concrete[name] = models[name]
        names: set[str] = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(item.name)
            for t in _targets(item):
                names.update(e.id for e in _flatten(t) if isinstance(e, ast.Name))
        for sub in ast.walk(node):
            for t in _targets(sub):
                for e in _flatten(t):
                    if (isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
                            and e.value.id == "self"):
                        names.add(e.attr)
        for n in names:
            if not (n.startswith("__") and n.endswith("__")) and n not in _OBJECT_NAMES:
                attributes.setdefault(n, set()).add(name)
    for name in registered - set(concrete):
        if name in classes:
            mod, node = classes[name]
            concrete[name] = f"{mod.rel}:{node.lineno}"
    return ModelClasses(models, concrete, {k: sorted(v) for k, v in sorted(attributes.items())})


def ability_probes(modules: dict[str, Module], attributes: Iterable[str]) -> list[dict[str, str]]:
    """``getattr(x, "name", default)`` / ``hasattr(x, "name")`` of a model attribute name."""
    names = set(attributes)
    found = []
    for mod in modules.values():
        for node, _ in mod.nodes():
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            f = node.func.id
            if not ((f == "getattr" and len(node.args) == 3)
                    or (f == "hasattr" and len(node.args) == 2)):
                continue
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in names:
                found.append({"where": f"{mod.rel}:{node.lineno}", "name": arg.value,
                              "call": f"{f}({ast.unparse(node.args[0])}, {arg.value!r})"})
    return found


def _aliases(mod: Module) -> dict[str, str]:
    """Local name -> imported name, for every ``from ... import a as b`` in the module."""
    out: dict[str, str] = {}
    for node, _ in mod.nodes():
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                out[a.asname or a.name] = a.name
    return out


def concrete_class_checks(modules: dict[str, Module], concrete: Iterable[str]
                          ) -> list[dict[str, str]]:
    """``isinstance``/``issubclass`` against a concrete model class, outside ``algorithms/``."""
    names = set(concrete)
    found = []
    for mod in modules.values():
        if mod.folder == "algorithms":
            continue
        aliases = _aliases(mod)
        for node, _ in mod.nodes():
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2):
                continue
            hits = []
            for e in _flatten(node.args[1]):
                n = aliases.get(e.id, e.id) if isinstance(e, ast.Name) else _base_name(e)
                if n in names:
                    hits.append(n)
            if hits:
                found.append({"where": f"{mod.rel}:{node.lineno}", "classes": ", ".join(hits),
                              "call": ast.unparse(node)})
    return found


# ---------------------------------------------------------------------------------------------
# Other patterns


def pending_attributes(modules: dict[str, Module]) -> dict[str, Any]:
    """``self._pending*`` attributes of the model folders and every occurrence of their names."""
    scope = [m for m in modules.values() if m.folder in PENDING_FOLDERS]
    names: set[str] = set()
    assigned = []
    for mod in scope:
        for node, _ in mod.nodes():
            for t in _targets(node):
                for e in _flatten(t):
                    if (isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name)
                            and e.value.id == "self" and e.attr.startswith("_pending")):
                        names.add(e.attr)
                        assigned.append(f"{mod.rel}:{_line(node)} self.{e.attr}")
            if (isinstance(node, ast.Call) and _callee(node) == "setattr" and len(node.args) > 1
                    and isinstance(node.args[0], ast.Name) and node.args[0].id == "self"
                    and isinstance(node.args[1], ast.Constant)
                    and str(node.args[1].value).startswith("_pending")):
                names.add(str(node.args[1].value))
                assigned.append(f"{mod.rel}:{node.lineno} setattr(self, {node.args[1].value!r})")
    occurrences = []
    for mod in scope:
        for node, _ in mod.nodes():
            if isinstance(node, ast.Attribute) and node.attr in names:
                occurrences.append(f"{mod.rel}:{node.lineno} .{node.attr}")
            elif (isinstance(node, ast.Call) and _callee(node) in ("getattr", "setattr",
                                                                   "hasattr", "delattr")
                  and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value in names):
                occurrences.append(f"{mod.rel}:{node.lineno} {_callee(node)}(..., "
                                   f"{node.args[1].value!r})")
    return {"names": sorted(names), "assigned": sorted(assigned),
            "occurrences": sorted(occurrences, key=_where_key)}


def signature_sniffing(modules: dict[str, Module]) -> dict[str, list[str]]:
    """``inspect.signature(obj.method)`` with ``obj`` other than ``cls``/``self``."""
    sniffing, other = [], []
    for mod in modules.values():
        inspect_names = {a.asname or a.name for n, _ in mod.nodes()
                         if isinstance(n, ast.ImportFrom) and n.module == "inspect"
                         for a in n.names if a.name == "signature"}
        for node, _ in mod.nodes():
            if not isinstance(node, ast.Call) or not node.args:
                continue
            f = node.func
            is_sig = ((isinstance(f, ast.Attribute) and f.attr == "signature"
                       and isinstance(f.value, ast.Name) and f.value.id == "inspect")
                      or (isinstance(f, ast.Name) and f.id in inspect_names))
            if not is_sig:
                continue
            arg = node.args[0]
            text = f"{mod.rel}:{node.lineno} {ast.unparse(node)}"
            if isinstance(arg, ast.Attribute):
                owner = arg.value
                if not (isinstance(owner, ast.Name) and owner.id in ("cls", "self")):
                    sniffing.append(text)
            else:
                other.append(text)
    return {"sniffing": sniffing, "other_calls": other}


def _mentions_count(expr: ast.expr) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in COUNT_ATTRIBUTES
               for n in ast.walk(expr))


def _is_zero(expr: ast.expr) -> bool:
    return (isinstance(expr, ast.Constant) and not isinstance(expr.value, bool)
            and expr.value == 0)


def known_user_copies(modules: dict[str, Module]) -> list[str]:
    """Comparisons of a ``user_count_``/``item_count_`` with 0 outside the model folders."""
    found = []
    for mod in modules.values():
        if mod.folder in MODEL_FOLDERS:
            continue
        for node, _ in mod.nodes():
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            if any(_is_zero(o) for o in operands) and any(_mentions_count(o) for o in operands):
                found.append(f"{mod.rel}:{node.lineno} {ast.unparse(node)}")
    return sorted(found, key=_where_key)


def type_ignores(modules: dict[str, Module]) -> dict[str, Any]:
    """``type: ignore`` comments (all, and those with ``attr-defined``)."""
    every, attr = [], []
    for mod in modules.values():
        tokens = tokenize.generate_tokens(io.StringIO(mod.text).readline)
        for tok in tokens:
            if tok.type != tokenize.COMMENT:
                continue
            m = _TYPE_IGNORE.search(tok.string)
            if not m:
                continue
            text = f"{mod.rel}:{tok.start[0]} {tok.string.strip()}"
            every.append(text)
            codes = {c.strip() for c in (m.group(1) or "").split(",")}
            if "attr-defined" in codes:
                attr.append(text)
    return {"all": every, "attr_defined": attr,
            "by_file": dict(Counter(t.split(":")[0] for t in every).most_common())}


def long_files(modules: dict[str, Module]) -> list[dict[str, Any]]:
    return sorted(({"file": m.rel, "lines": m.lines} for m in modules.values()
                   if m.lines > MAX_FILE_LINES), key=lambda d: -d["lines"])


def long_functions(modules: dict[str, Module]) -> list[dict[str, Any]]:
    found = []
    for mod in modules.values():
        for node, ctx in mod.nodes():
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append({"where": f"{mod.rel}:{node.lineno}",
                                  "function": ".".join((*ctx.scope, node.name)),
                                  "lines": length})
    return sorted(found, key=lambda d: -d["lines"])


def _where_key(text: str) -> tuple[str, int]:
    file, _, rest = text.partition(":")
    digits = re.match(r"\d+", rest)
    return file, int(digits.group()) if digits else 0


# ---------------------------------------------------------------------------------------------
# The report


@dataclass
class Figure:
    name: str
    value: int
    target: str  #: as written in the issue; "" for a figure shown for information
    ok: bool | None  #: None for information

    @property
    def status(self) -> str:
        return "" if self.ok is None else ("ok" if self.ok else "over")


def analyse(src: Path) -> dict[str, Any]:
    """Every figure and the items behind it, for the package at ``src``."""
    modules = load_package(src)
    scan = scan_imports(modules)
    runtime = scan.runtime()
    circles = import_circles(modules, runtime)
    module_level = import_circles(modules, [i for i in runtime if i.level == "module"])
    layers = upward_arrows(modules, scan)
    classes = model_classes(modules)
    probes = ability_probes(modules, classes.attributes)
    named = [p for p in probes if p["name"].endswith("_") or p["name"] in NAMED_ABILITIES]
    checks = concrete_class_checks(modules, classes.concrete)
    pending = pending_attributes(modules)
    sniff = signature_sniffing(modules)
    copies = known_user_copies(modules)
    ignores = type_ignores(modules)
    files = long_files(modules)
    functions = long_functions(modules)
    largest = circles[0]["size"] if circles else 0
    across = sum(c["across_folders"] for c in circles)
    figures = [
        Figure("files", len(modules), "", None),
        Figure("lines", sum(m.lines for m in modules.values()), "", None),
        Figure("synerec imports (run-time arrows)", len(runtime), "", None),
        Figure("synerec imports inside functions", scan.statements_in_functions, "", None),
        Figure("TYPE_CHECKING-only imports", len(scan.imports) - len(runtime), "", None),
        Figure("import circles", len(circles), "", None),
        Figure("largest import circle (files)", largest, "<= 3", largest <= 3),
        Figure("import circles across folders", across, "0", across == 0),
        Figure("upward arrows (lower layer -> higher)", len(layers["violations"]), "0",
               not layers["violations"]),
        Figure("probes of model abilities", len(probes), "<= 5", len(probes) <= 5),
        Figure("  of names ending in _ or named abilities", len(named), "", None),
        Figure("concrete model class checks outside algorithms/", len(checks), "0",
               not checks),
        Figure("_pending_ occurrences", len(pending["occurrences"]), "0",
               not pending["occurrences"]),
        Figure("signature sniffing", len(sniff["sniffing"]), "0", not sniff["sniffing"]),
        Figure("known-user rule copies outside the model", len(copies), "0", not copies),
        Figure("type: ignore", len(ignores["all"]), "<= 15", len(ignores["all"]) <= 15),
        Figure("type: ignore[attr-defined]", len(ignores["attr_defined"]), "<= 3",
               len(ignores["attr_defined"]) <= 3),
        Figure(f"files over {MAX_FILE_LINES} lines", len(files), "0", not files),
        Figure(f"functions over {MAX_FUNCTION_LINES} lines", len(functions), "<= 12",
               len(functions) <= 12),
    ]
    return {
        "src": str(Path(src).resolve()),
        "figures": [{**asdict(f), "status": f.status} for f in figures],
        "import_circles": circles,
        "import_circles_module_level": module_level,
        "upward_arrows": layers["violations"],
        "root_lazy_reexports": layers["root_lazy_reexports"],
        "type_checking_upward": layers["type_checking_only"],
        "unlayered_modules": layers["unlayered_modules"],
        "imports_in_functions": sorted((f"{i.where()} -> {i.target}" for i in runtime
                                        if i.level == "function"), key=_where_key),
        "dynamic_imports": scan.dynamic,
        "model_classes": classes.models,
        "concrete_model_classes": classes.concrete,
        "probes": probes,
        "concrete_class_checks": checks,
        "pending": pending,
        "signature_sniffing": sniff["sniffing"],
        "signature_other_calls": sniff["other_calls"],
        "known_user_copies": copies,
        "type_ignores": ignores,
        "long_files": files,
        "long_functions": functions,
    }


def missed(report: dict[str, Any]) -> list[str]:
    """The names of the figures whose target is missed."""
    return [f["name"] for f in report["figures"] if f["ok"] is False]


def format_report(report: dict[str, Any]) -> str:
    """The table of figures, then the items behind each one."""
    out: list[str] = []
    width = max(len(f["name"]) for f in report["figures"])
    out.append(f"architecture of {report['src']}")
    out.append(f"{'figure':<{width}}  {'value':>6}  {'target':<6}  status")
    out.append("-" * (width + 24))
    for f in report["figures"]:
        out.append(f"{f['name']:<{width}}  {f['value']:>6}  {f['target']:<6}  {f['status']}")

    def section(title: str, items: Sequence[str]) -> None:
        out.append("")
        out.append(f"== {title} ({len(items)})")
        out.extend(f"  {i}" for i in items)

    for n, c in enumerate(report["import_circles"], 1):
        section(f"import circle {n}: {c['size']} files in {', '.join(c['folders'])}; "
                "files", c["files"])
        section(f"import circle {n}: arrows inside it", c["arrows"])
    section("import circles of module-level imports alone",
            [f"{c['size']} files: {', '.join(c['files'])}"
             for c in report["import_circles_module_level"]])
    section("upward arrows", report["upward_arrows"])
    section("package root: lazy re-exports of higher layers (allowed)",
            report["root_lazy_reexports"])
    section("upward TYPE_CHECKING-only imports (not arrows)", report["type_checking_upward"])
    section("unlayered modules", report["unlayered_modules"])
    section("dynamic imports (not resolved)",
            [f"{d['where']} import_module({d['argument']})" for d in report["dynamic_imports"]])
    section("probes of model abilities",
            [f"{p['where']} {p['call']}" for p in report["probes"]])
    section("concrete model class checks outside algorithms/",
            [f"{c['where']} {c['call']}" for c in report["concrete_class_checks"]])
    section("_pending_ attributes assigned on self", report["pending"]["assigned"])
    section("_pending_ occurrences", report["pending"]["occurrences"])
    section("signature sniffing", report["signature_sniffing"])
    section("inspect.signature of a plain name (information)", report["signature_other_calls"])
    section("known-user rule copies outside the model", report["known_user_copies"])
    section("type: ignore by file",
            [f"{n:3d} {f}" for f, n in report["type_ignores"]["by_file"].items()])
    section("type: ignore[attr-defined]", report["type_ignores"]["attr_defined"])
    section(f"files over {MAX_FILE_LINES} lines",
            [f"{f['lines']:5d} {f['file']}" for f in report["long_files"]])
    section(f"functions over {MAX_FUNCTION_LINES} lines",
            [f"{f['lines']:5d} {f['where']} {f['function']}" for f in report["long_functions"]])
    section("synerec imports inside functions", report["imports_in_functions"])
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC,
                        help="the package folder to measure (default: src/synerec)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target of issue 20 is missed")
    args = parser.parse_args(argv)
    report = analyse(args.src)
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failed = missed(report)
    if args.check and failed:
        sys.stderr.write(f"targets missed: {', '.join(failed)}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
