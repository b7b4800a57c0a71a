"""The documentation site builds with mkdocs in strict mode (every warning an error: a broken link, a
missing snippet, a docstring mkdocstrings cannot read), and the built pages hold the included samples."""

from __future__ import annotations

import importlib.util
import os
import re
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


REFERENCE_PAGES = ("server", "asgi", "client", "engineio", "config")
RAW_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|const|mod|exc|obj):(?:`|<code>)")


def test_sphinx_roles_of_the_docstrings_are_links(site: Path) -> None:
    links = 0
    for page in REFERENCE_PAGES:
        text = (site / "reference" / page / "index.html").read_text()
        assert not RAW_ROLE.search(text), page
        assert "<autoref" not in text, page  # every reference was handled by autorefs
        for href in re.findall(r'<a class="autorefs autorefs-internal"[^>]*href="([^"]+)"><code>', text):
            target, _, anchor = href.partition("#")
            target_page = (site / "reference" / page / target).resolve() / "index.html" if target else None
            html = target_page.read_text() if target_page is not None else text
            assert f'id="{anchor}"' in html, (page, href)  # the link leads to the object's entry
            links += 1
    assert links >= 20
    server = (site / "reference/server/index.html").read_text()
    # :class:`~socketeer.exceptions.AckTimeout`: the last name only, linked to its entry
    assert re.search(
        r'href="../config/#socketeer\.exceptions\.AckTimeout"><code>AckTimeout</code></a>', server
    )


def load_roles() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_sphinx_roles", ROOT / "docs" / "sphinx_roles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_roles_are_resolved_as_python_names_are(tmp_path: Path) -> None:
    import griffe

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .mod import Thing\n__all__ = ['Thing']\n")
    (package / "mod.py").write_text(
        "from collections import OrderedDict\n"
        "class Thing:\n"
        '    """See :meth:`close`, :class:`~pkg.mod.Other`, :class:`Thing`, :func:`helper`,\n'
        '    :mod:`.mod`, :class:`the other one <Other>`, :class:`OrderedDict`, :attr:`missing`."""\n'
        "    def close(self) -> None: ...\n"
        "class Other: ...\n"
        "def helper() -> None: ...\n"
    )
    roles = load_roles()
    loader = griffe.GriffeLoader(
        search_paths=[str(tmp_path)], extensions=griffe.load_extensions(roles.SphinxRoles)
    )
    pkg = loader.load("pkg")
    loader.resolve_aliases()
    doc = pkg["mod.Thing"].docstring.value

    def ref(path: str, title: str) -> str:
        return f'<autoref identifier="{path}" optional><code>{title}</code></autoref>'

    assert ref("pkg.mod.Thing.close", "close()") in doc
    assert ref("pkg.mod.Other", "Other") in doc
    assert ref("pkg.mod.Thing", "Thing") in doc
    assert ref("pkg.mod.helper", "helper()") in doc
    assert ref("pkg.mod", ".mod") in doc
    assert ref("pkg.mod.Other", "the other one") in doc
    # outside the package, or nowhere: code, without a link
    assert "<code>OrderedDict</code>" in doc and 'identifier="collections' not in doc
    assert "<code>missing</code>" in doc
    assert ":class:" not in doc and ":meth:" not in doc
