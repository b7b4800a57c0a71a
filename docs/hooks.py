"""mkdocs hook: nav entries for pages that other parts of the project add (the Prometheus metrics
page) are shown once those pages exist, and dropped until then; any other missing
page still fails the strict build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

OPTIONAL_PAGES = {"metrics.md"}


def _prune(items: list[Any], docs_dir: Path) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                kept.append({title: _prune(value, docs_dir)})
                continue
            if isinstance(value, str) and value in OPTIONAL_PAGES and not (docs_dir / value).is_file():
                continue
        kept.append(item)
    return kept


def on_config(config: Any) -> Any:
    if config["nav"]:
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config
