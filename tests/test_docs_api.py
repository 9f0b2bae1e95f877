"""The API reference (docs/api.rst) lists every exported name of the package."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import sklearn_salreg

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def _public_modules():
    """sklearn_salreg and every public module or subpackage under it that has ``__all__``."""
    names = ["sklearn_salreg"]
    for info in pkgutil.walk_packages(sklearn_salreg.__path__, "sklearn_salreg."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]):
            continue  # private modules and __main__
        names.append(info.name)
    modules = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # pragma: no cover - an optional dependency is missing
            pytest.skip(f"cannot import {name}: {exc}")
        if hasattr(module, "__all__"):
            modules.append(module)
    return modules


def _documented():
    """The entries of the autosummary tables, resolved to their objects."""
    text = API.read_text()
    current, entries = "sklearn_salreg", []
    in_table = False
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            current = m.group(1)
        m = re.match(r"\.\. py:data:: (\S+)", line)  # constants, described by hand
        if m:
            entries.append(m.group(1))
        if line.startswith(".. autosummary::"):
            in_table = True
            continue
        if in_table:
            if line and not line.startswith(" "):
                in_table = False
            elif line.strip() and not line.strip().startswith(":"):
                entries.append(f"{current}.{line.strip()}")
    resolved = {}
    for entry in entries:
        if entry.startswith("sklearn_salreg.sklearn_salreg."):
            entry = entry[len("sklearn_salreg."):]
        module_name, _, attr = entry.rpartition(".")
        module = importlib.import_module(module_name)
        resolved[entry] = getattr(module, attr)
    return resolved


def test_every_documented_entry_exists():
    assert len(_documented()) > 50  # the parser found the tables


def test_every_exported_name_is_in_the_api_reference():
    documented = _documented()
    ids = {id(obj) for obj in documented.values()}
    names = set(documented)
    missing = []
    for module in _public_modules():
        for name in module.__all__:
            obj = getattr(module, name)
            if f"{module.__name__}.{name}" in names:
                continue
            # the same object documented under another public path (re-exports)
            if id(obj) in ids and not isinstance(obj, (int, float, str, bool)):
                continue
            missing.append(f"{module.__name__}.{name}")
    assert not missing, f"exported but missing from docs/api.rst: {missing}"


def test_no_name_is_documented_twice():
    documented = _documented()
    seen = {}
    for entry, obj in documented.items():
        if isinstance(obj, (int, float, str, bool)):
            continue
        assert id(obj) not in seen, f"{entry} and {seen[id(obj)]} are the same object"
        seen[id(obj)] = entry


# Exported callables whose docstring may go without an Examples section, and why.
# Constants (dicts, tuples, numbers) need none and are not listed.
EXAMPLES_EXEMPT = {
    # the experiments layer: each runs a benchmark over a real data set (minutes)
    "sklearn_salreg.experiments.cli.main",
    "sklearn_salreg.experiments.report.choose_diffusion",
    "sklearn_salreg.experiments.report.choose_diffusion_k",
    "sklearn_salreg.experiments.report.extract_benchmark",
    "sklearn_salreg.experiments.report.multiscale_report",
    "sklearn_salreg.experiments.report.quality_report",
    "sklearn_salreg.experiments.report.run_report",
    "sklearn_salreg.experiments.report.tune_os_egm",
    "sklearn_salreg.experiments.report.with_trained_whitening",
    "sklearn_salreg.experiments.table1.evaluate_configurations",
}


def _exported_callables():
    """Each exported class or function once, under its first exported name."""
    seen = {}
    for module in _public_modules():
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and id(obj) not in seen:
                seen[id(obj)] = (f"{module.__name__}.{name}", obj)
    return list(seen.values())


def test_every_exported_callable_has_an_examples_section():
    exported = _exported_callables()
    assert len(exported) > 80  # the walk found the package
    missing = [name for name, obj in exported
               if name not in EXAMPLES_EXEMPT
               and not re.search(r"^Examples\n--------$", inspect.getdoc(obj) or "", re.M)]
    assert not missing, f"exported without an Examples section: {missing}"


def test_the_examples_exemptions_are_exported_and_still_needed():
    exported = dict(_exported_callables())
    for name in EXAMPLES_EXEMPT:
        assert name in exported, f"{name} is exempt but not exported"
        assert "\nExamples\n" not in (inspect.getdoc(exported[name]) or ""), \
            f"{name} has an Examples section now: drop it from EXAMPLES_EXEMPT"
