"""``pip install socketeer[all]`` installs every optional part: the ``all`` extra lists each requirement
of every other runtime extra, and each of them is installed (at a fitting version) and importable here."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
#: extras that are tooling, not parts of the library
TOOLING = {"dev", "docs", "testing", "all"}
#: the module each distribution is imported as
MODULES = {"prometheus-client": "prometheus_client"}


def extras() -> dict[str, list[Requirement]]:
    table = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {name: [Requirement(r) for r in reqs] for name, reqs in table.items()}


def applicable(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate()


def test_all_covers_every_runtime_extra() -> None:
    table = extras()
    in_all = {(r.name, str(r.specifier), str(r.marker)) for r in table["all"]}
    for name, reqs in table.items():
        if name in TOOLING:
            continue
        for req in reqs:
            assert (req.name, str(req.specifier), str(req.marker)) in in_all, f"[all] lacks {req} of [{name}]"


@pytest.mark.parametrize("req", [r for r in extras()["all"] if applicable(r)], ids=str)
def test_every_part_of_all_is_installed_and_imports(req: Requirement) -> None:
    version = importlib.metadata.version(req.name)
    assert req.specifier.contains(version, prereleases=True), f"{req.name} {version} does not fit {req}"
    module = MODULES.get(req.name, req.name.replace("-", "_"))
    importlib.import_module(module)


def test_socketeer_uses_the_optional_parts() -> None:
    """The code paths that need an extra take it: the C masking of ``websockets`` and the bcrypt check."""
    from socketeer.admin import auth
    from socketeer.protocol import websocket_frames

    assert websocket_frames.apply_mask is not websocket_frames._apply_mask_py
    import bcrypt

    assert auth._load_checker() is bcrypt.checkpw
