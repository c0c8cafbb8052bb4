"""Griffe extension for the API reference: render Sphinx roles in docstrings as inline code.

The library's docstrings use Sphinx roles (``:class:`~adapters.errors.AdapterError```, ``:meth:`replace```).
Markdown has no roles, so each one becomes inline code with the name a reader would write (the last dotted part
for ``~`` targets, as Sphinx shows them).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|mod|data|attr|exc|obj):`(?P<tilde>~?)(?P<target>[^`]+)`")


def plain_roles(text: str) -> str:
    """``text`` with every Sphinx role replaced by inline code."""

    def replace(match: re.Match) -> str:
        target = match["target"]
        return f"`{target.rsplit('.', 1)[-1] if match['tilde'] else target}`"

    return _ROLE.sub(replace, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every loaded docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain_roles(obj.docstring.value)
