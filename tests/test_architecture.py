"""The package's import graph: layers that only import downwards, no private name across them.

Each module of ``sklearn_salreg`` belongs to a *unit*: its first-level subpackage or
module (``detection``, ``pipelines``...), except ``utils.estimator_checks``, the testing
helpers, which builds whole pipelines and sits near the top. :data:`LAYERS` orders the
units from the bottom (plain array helpers and the data model) to the top (the
experiments and the command line). A module may import its own unit and any unit of
a lower layer, never one of its own layer or above; the library never imports
``experiments``. No module imports a private name (a leading underscore) from another
unit: what another unit needs gets a public name in its one home.

``python tests/test_architecture.py`` prints the graph (units by layer, the edges
between units, the private modules imported across units).
"""

import ast
import collections
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_salreg"

#: Units from the bottom layer to the top; a unit imports only units of lower layers.
LAYERS = [
    {"utils", "collection"},  # array helpers, devices, validation; the data model
    # the estimators' base, nearest-neighbour search, scores, data, image features
    {"_base", "neighbors", "metrics", "datasets", "extraction"},
    {"detection", "pooling", "whitening", "discovery"},  # the per-stage estimators
    {"saliency"},  # object saliency reads the region graph (discovery) and pools (pooling)
    {"search", "plotting", "multiscale"},  # retrieval, figures, descriptors summed over scales
    {"model_selection"},  # scorers rank with search and score with metrics
    {"pipelines", "__init__"},  # the named configurations; the package's own namespace
    {"testing"},  # utils.estimator_checks: runs pipelines of every stage on synthetic maps
    {"experiments"},  # the report, the Table-1 evaluation, the command line
    {"__main__"},  # ``python -m sklearn_salreg``
]

#: Modules placed in a unit other than their subpackage's.
SPECIAL_UNITS = {"sklearn_salreg.utils.estimator_checks": "testing"}

#: Known upward imports left on this branch, in files that other branches rewrite:
#: (importing module, imported unit) -> why. The lead empties it when merging.
ALLOWED_UPWARD = {}

#: Known private names imported across units on this branch, in files other branches
#: rewrite: (importing module, "imported.module:name") -> why. The lead empties it when merging.
ALLOWED_PRIVATE = {}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


def unit_of(module):
    """The unit of a module of the package (see :data:`LAYERS`)."""
    for prefix, unit in SPECIAL_UNITS.items():
        if module == prefix or module.startswith(prefix + "."):
            return unit
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _resolve(node, module, is_package):
    """The absolute module an ``ImportFrom`` node imports from."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports():
    """Every import of a package module by a package module, lazy ones included.

    Yields ``(module, target, name)``: ``target`` the module imported from (or the module
    imported), ``name`` the name imported from it (None for ``import x``).
    """
    for path in sorted(PACKAGE.rglob("*.py")):
        module, is_package = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(node, module, is_package)
                if target.split(".")[0] != "sklearn_salreg":
                    continue
                for alias in node.names:
                    # ``from . import x`` may import a submodule x
                    if node.module is None and (PACKAGE.parent / Path(*target.split("."))
                                                / alias.name).exists():
                        yield module, f"{target}.{alias.name}", None
                    else:
                        yield module, target, alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "sklearn_salreg":
                        yield module, alias.name, None


def layer_of(unit):
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"unit {unit!r} is in no layer: add it to LAYERS in {__file__}")


def upward_imports():
    """``{(module, imported unit): imported module}`` for each import of a unit not lower."""
    found = {}
    for module, target, _ in imports():
        a, b = unit_of(module), unit_of(target)
        if a != b and layer_of(b) >= layer_of(a):
            found[(module, b)] = target
    return found


def private_imports():
    """``{(module, "target:name")}`` for each private name imported from another unit."""
    found = set()
    for module, target, name in imports():
        if unit_of(module) == unit_of(target) or name is None:
            continue
        if name.startswith("_") and not name.startswith("__"):
            found.add((module, f"{target}:{name}"))
    return found


def test_every_unit_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(unit_of(_module_name(path)[0]))
    units = [u for layer in LAYERS for u in layer]
    assert len(units) == len(set(units)), "a unit is in two layers"


def test_no_module_imports_a_higher_or_equal_layer():
    found = upward_imports()
    new = {k: v for k, v in found.items() if k not in ALLOWED_UPWARD}
    assert not new, "imports of a unit that is not in a lower layer:\n" + "\n".join(
        f"  {m} (layer {layer_of(unit_of(m))}) imports {found[(m, u)]} (layer {layer_of(u)})"
        for m, u in sorted(new))
    stale = set(ALLOWED_UPWARD) - set(found)
    assert not stale, f"allowed upward imports that no longer occur (remove them): {stale}"


def test_the_library_never_imports_the_experiments():
    for module, target, _ in imports():
        if unit_of(target) == "experiments":
            assert unit_of(module) in {"experiments", "__main__"}, f"{module} imports {target}"


def test_no_private_name_is_imported_across_units():
    found = private_imports()
    new = found - set(ALLOWED_PRIVATE)
    assert not new, "private names imported from another unit (give them a public name in " \
                    "their home):\n" + "\n".join(f"  {m} imports {t}" for m, t in sorted(new))
    stale = set(ALLOWED_PRIVATE) - found
    assert not stale, f"allowed private imports that no longer occur (remove them): {stale}"


def test_the_checks_see_the_imports():
    """The parser finds imports that are known to be there (lazy ones included)."""
    found = set((unit_of(m), unit_of(t)) for m, t, _ in imports())
    assert ("pipelines", "saliency") in found
    assert ("__main__", "experiments") in found
    assert ("experiments", "extraction") in found  # imported inside a function


def test_the_checks_catch_violations(tmp_path, monkeypatch):
    """A package with an upward import and a private name across units fails both checks."""
    root = tmp_path / "sklearn_salreg"
    (root / "utils").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "utils" / "__init__.py").write_text("def helper():\n    from ..pipelines import make\n")
    (root / "utils" / "_arrays.py").write_text("def _private():\n    pass\n")
    (root / "pipelines.py").write_text("from .utils._arrays import _private\nfrom . import utils\n")
    monkeypatch.setitem(globals(), "PACKAGE", root)
    assert upward_imports() == {("sklearn_salreg.utils", "pipelines"): "sklearn_salreg.pipelines"}
    assert private_imports() == {("sklearn_salreg.pipelines",
                                  "sklearn_salreg.utils._arrays:_private")}


def test_the_repository_cites_no_file_outside_it():
    """Code, docs, examples and benchmarks stand on their own: no note kept elsewhere is cited."""
    root = PACKAGE.parent
    outside = ["METHOD" + ".md", "../" + "shared", "/work" + "/"]
    found = []
    for folder in ["sklearn_salreg", "docs", "examples", "benchmarks", "asv_benchmarks", "tests"]:
        for path in (root / folder).rglob("*"):
            if path.suffix not in {".py", ".rst", ".md", ".txt", ".cfg", ".toml"}:
                continue
            if any(part.startswith((".", "_build", "generated", "auto_examples"))
                   for part in path.relative_to(root).parts):
                continue
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(root)}: {s}" for s in outside if s in text]
    text = (root / "README.md").read_text()
    found += [f"README.md: {s}" for s in outside if s in text]
    assert not found, found


def format_graph():
    """The units by layer, their edges, and the private modules imported across units."""
    edges = collections.defaultdict(set)
    private_modules = collections.defaultdict(set)
    for module, target, _ in imports():
        a, b = unit_of(module), unit_of(target)
        if a == b:
            continue
        edges[a].add(b)
        if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[1:]):
            private_modules[target].add(a)
    lines = ["layers (bottom first) and the units each unit imports:"]
    for i, units in enumerate(LAYERS):
        for unit in sorted(units):
            lines.append(f"  {i} {unit:<16} -> {', '.join(sorted(edges.get(unit, ()))) or '-'}")
    up = upward_imports()
    lines.append(f"upward imports: {len(up)} ({len(ALLOWED_UPWARD)} allowed on this branch)")
    lines += [f"  {m} -> {t}" for (m, _), t in sorted(up.items())]
    priv = private_imports()
    lines.append(f"private names imported across units: {len(priv)} "
                 f"({len(ALLOWED_PRIVATE)} allowed on this branch)")
    lines += [f"  {m} -> {t}" for m, t in sorted(priv)]
    lines.append("private modules imported from other units (public names only):")
    lines += [f"  {t} <- {', '.join(sorted(us))}" for t, us in sorted(private_modules.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_graph())
