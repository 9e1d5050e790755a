"""The house's dependency arrows (DESIGN.md section 9): every import inside spot_seda/ points down a layer.

model <- engine, bus, config <- binance (the wire format, beside the model) <- accounts, history,
journal, listenkeys <- stages, topology, commandlog (the journal mirrored to Kafka) <- accountlog
(the account registry beside it) <- runtime, kafkajournal (Acquiring's journal over the command
log) <- api.
Imports inside functions (kept lazy for a fast start or an optional transport) follow the same rule,
so none can hide a cycle between layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spot_seda

ROOT = Path(spot_seda.__file__).parent
LAYER = {
    "model": 0,
    "engine": 1, "bus": 1, "config": 1,
    "binance": 2,
    "accounts": 3, "history": 3, "journal": 3, "listenkeys": 3,
    "stages": 4, "topology": 4, "commandlog": 4,
    "accountlog": 5,
    "runtime": 6, "kafka_broker": 6, "kafkajournal": 6,
    "api": 7,
}


def _exists(dotted: str) -> bool:
    """A module or package of that name is in spot_seda/ (for `from X import name`, X itself)."""
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _unit(dotted: str) -> str:
    return dotted.split(".")[1]


def _imports(path: Path):
    """(unit imported, line, at module level) for each spot_seda import in one file, at any depth."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    package = parts[:-1]  # (for __init__.py too: its package is its folder)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        top.add(id(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top.update(id(n) for n in node.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if target == "spot_seda" else [target]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("spot_seda."):
                if not _exists(name) and not (target == "spot_seda" and _exists("spot_seda")):
                    raise AssertionError(f"{path}:{node.lineno} imports {name}, which does not exist")
                yield _unit(name), node.lineno, id(node) in top


def test_every_unit_has_a_layer():
    units = {p.stem if p.parent == ROOT else p.relative_to(ROOT).parts[0]
             for p in ROOT.rglob("*.py") if p != ROOT / "__init__.py"}
    assert units <= LAYER.keys(), sorted(units - LAYER.keys())


def test_imports_point_down_and_none_hide_in_functions():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == ROOT / "__init__.py":
            continue
        own = _unit(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        for unit, line, at_top in _imports(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if unit != own and LAYER[unit] >= LAYER[own]:
                wrong.append(f"{where}: {own} (layer {LAYER[own]}) imports {unit} (layer {LAYER[unit]})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: an engine module importing a stage is caught."""
    fake = ROOT / "engine" / "_layer_probe.py"
    fake.write_text("from ..stages import base\n", encoding="utf-8")
    try:
        found = list(_imports(fake))
    finally:
        fake.unlink()
    assert found == [("stages", 1, True)] and LAYER["stages"] > LAYER["engine"]


def test_the_check_sees_an_import_of_nothing():
    """A relative import left pointing nowhere by a move (it would fail only when its function runs)."""
    fake = ROOT / "history" / "_layer_probe.py"
    fake.write_text("def f():\n    from .bus.base import partition_for\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="does not exist"):
            list(_imports(fake))
    finally:
        fake.unlink()
