"""The layer rules of the architecture: imports go downward only; L0 and L1 stay pure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "socketeer"

LAYER_OF_PACKAGE = {
    "_types": -1,
    "logs": -1,
    "exceptions": -1,
    "protocol": 0,
    "engine": 1,
    "sio": 1,
    "transports": 2,
    "adapters": 3,
    "server": 4,
    "integrations": 5,
    "client": 5,
    "demo": 6,
    "cli": 6,
    "__main__": 6,
    "admin": 5,
    "testing": 6,
    "metrics": 5,
    "__init__": 7,
}
PURE_BANNED = {"asyncio", "time", "socket", "selectors", "threading"}
# Convenience entry points that reach upward on purpose, imported lazily inside a function.
ALLOWED_UPWARD = {
    ("server/server.py", "integrations.standalone"),
    ("server/server.py", "integrations.handover"),
    ("server/engineio.py", "integrations.standalone"),
}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py"))


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported socketeer sub-module path, imported at module level?)"""
    tree = ast.parse(path.read_text())
    rel_parts = path.relative_to(SRC).with_suffix("").parts
    out: list[tuple[str, bool]] = []
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel_parts[: len(rel_parts) - node.level])
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("socketeer"):
                target = node.module.removeprefix("socketeer").lstrip(".")
            else:
                if node.module:
                    out.append(("!" + node.module.split(".")[0], id(node) in top_level))
                continue
            out.append((target, id(node) in top_level))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("socketeer"):
                    out.append((alias.name.removeprefix("socketeer").lstrip("."), id(node) in top_level))
                else:
                    out.append(("!" + alias.name.split(".")[0], id(node) in top_level))
    return out


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_go_downward(path: Path) -> None:
    package = _package(path)
    assert package in LAYER_OF_PACKAGE, f"{package} has no layer: add it to the architecture"
    layer = LAYER_OF_PACKAGE[package]
    rel = str(path.relative_to(SRC))
    for target, _ in _imports(path):
        if target.startswith("!") or not target:
            continue
        head = target.split(".")[0]
        target_layer = LAYER_OF_PACKAGE.get(head)
        assert target_layer is not None, f"{rel} imports unknown socketeer module {target}"
        if (rel, target) in ALLOWED_UPWARD:
            continue
        if package == "client":
            assert head not in ("server", "adapters"), f"{rel}: the client must not import {target}"
        if package == "__init__":
            continue
        assert target_layer <= layer, f"{rel} (layer {layer}) imports {target} (layer {target_layer})"


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if LAYER_OF_PACKAGE.get(_package(p), 9) <= 1],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_pure_layers_do_no_io(path: Path) -> None:
    for target, _ in _imports(path):
        if target.startswith("!"):
            assert target[1:] not in PURE_BANNED, f"{path.name} imports {target[1:]}: L0/L1 must stay pure"


def test_allowed_upward_imports_are_lazy() -> None:
    for rel, target in ALLOWED_UPWARD:
        for imported, at_top in _imports(SRC / rel):
            if imported == target:
                assert not at_top, f"{rel} must import {target} inside a function"
