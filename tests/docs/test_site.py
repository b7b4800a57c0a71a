"""The documentation site builds with mkdocs in strict mode (every warning an error: a broken link, a
missing snippet, a docstring mkdocstrings cannot read), and the built pages hold the included samples."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_every_page_is_built(site: Path) -> None:
    for page in ("index.html", "tutorial/chat/index.html", "guides/nginx/index.html", "migration/index.html",
                 "reference/server/index.html", "engineio/index.html", "security/index.html"):  # fmt: skip
        assert (site / page).is_file(), page
    assert not (site / "samples").exists() and not (site / "hooks.py").exists()


def test_samples_are_included_and_the_reference_is_generated(site: Path) -> None:
    chat = (site / "tutorial/chat/index.html").read_text()
    assert "require_nickname" in chat and "emitWithAck" in chat
    assert "--8&lt;--" not in chat
    reference = (site / "reference/server/index.html").read_text()
    assert "emit_with_ack" in reference and "connection_state_recovery" in reference


def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_optional_nav_entries_appear_once_their_pages_exist(tmp_path: Path) -> None:
    hooks = load_hooks()
    nav = [{"Home": "index.md"}, {"Guides": [{"Testing": "testing.md"}, {"Metrics": "metrics.md"}]}]
    pruned = hooks.on_config({"nav": nav, "docs_dir": str(tmp_path)})["nav"]
    # only the optional page goes; a missing required page stays, for the strict build to report
    assert pruned == [{"Home": "index.md"}, {"Guides": [{"Testing": "testing.md"}]}]
    (tmp_path / "metrics.md").write_text("# Metrics\n")
    assert hooks.on_config({"nav": nav, "docs_dir": str(tmp_path)})["nav"] == nav
