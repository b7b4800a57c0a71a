"""A Griffe extension for the API reference: Sphinx cross-reference roles in docstrings become links.

The docstrings of socketeer use Sphinx roles (:class:`~socketeer.Server`, :meth:`close`, ...), which
Markdown shows as raw text. Once Griffe has loaded the package, each role is replaced by an optional
mkdocs-autorefs reference to the object it names (resolved as Python would: the object's members, its
parents', the module's imports, then the package root), titled as Sphinx titles it (``~``: the last
name only; ``()`` after functions and methods). An object that is not on the site stays as code, without
a warning. Configured under the Python handler's ``extensions`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from griffe import Extension, Module, Object

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|data|const|mod|exc|obj):"
    r"`(?P<tilde>~)?(?P<text>[^`<]+?)(?:\s*<(?P<target>[^>`]+)>)?`"
)
CALLABLE_ROLES = {"meth", "func"}


class SphinxRoles(Extension):
    """Rewrite the roles of every docstring of the package, once it is loaded."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, pkg)
            stack.extend(member for member in obj.members.values() if not member.is_alias)


def rewrite(text: str, obj: Object, pkg: Module) -> str:
    """``text`` with its roles replaced by references (or code, for what cannot be found)."""

    def replace(match: re.Match[str]) -> str:
        role = match["role"]
        name = (match["target"] or match["text"]).strip().lstrip("~")
        if match["target"]:
            title = match["text"].strip()
        elif match["tilde"]:
            title = name.rsplit(".", 1)[-1]
        else:
            title = name
        if role in CALLABLE_ROLES and not title.endswith(")"):
            title += "()"
        code = f"<code>{html.escape(title)}</code>"
        path = resolve(name, obj, pkg)
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE.sub(replace, text)


def resolve(name: str, obj: Object, pkg: Module) -> str | None:
    """The full path of the object ``name`` designates in ``obj``'s docstring, if it exists."""
    candidates: list[str] = []
    if name.startswith("."):  # relative to the module (Sphinx's leading dot)
        module = obj if obj.is_module else obj.module
        candidates += [module.path + name, (module.parent or module).path + name]
    else:
        first, _, rest = name.partition(".")
        scope: Object | None = obj
        while scope is not None:  # the object's members, then its parents' and the module's names
            try:
                found = scope.resolve(first)
            except Exception:  # not a name of this scope (griffe's NameResolutionError, alias errors)
                scope = scope.parent
                continue
            candidates.append(f"{found}.{rest}" if rest else found)
            break
        candidates += [name, f"{pkg.path}.{name}"]
    for candidate in candidates:
        if _exists(candidate, pkg):
            return candidate
    return None


def _exists(path: str, pkg: Module) -> bool:
    root, _, rest = path.partition(".")
    if root != pkg.path:
        return False
    try:
        target = pkg[rest] if rest else pkg
        if target.is_alias:
            target.final_target  # noqa: B018 -- an alias to something outside the package fails here
    except Exception:
        return False
    return True
