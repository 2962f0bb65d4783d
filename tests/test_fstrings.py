"""No f-string without a placeholder (pyflakes/ruff F541) in the package, the benchmarks or the tests.

Such a string is usually a placeholder someone forgot to write (``f"total: "``
where ``{total}`` was meant), so it is refused everywhere, by reading the
code's syntax trees (no linter needed).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TREES = ("findsupport", "benchmarks", "tests")


def placeholderless_fstrings(source: str) -> list[int]:
    """Lines of the f-strings in ``source`` that hold no ``{...}`` (format specs such as ``:.3f`` aside).

    >>> placeholderless_fstrings('a = f"x"\\nb = f"{a:.3f}"\\nc = f"y" "{b}"\\nd = f"z" f"{c}"')
    [1, 3]
    """
    tree = ast.parse(source)
    specs = {id(node.format_spec) for node in ast.walk(tree) if isinstance(node, ast.FormattedValue) and node.format_spec}
    return [
        node.lineno for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr) and id(node) not in specs
        and not any(isinstance(part, ast.FormattedValue) for part in node.values)
    ]


@pytest.mark.parametrize("tree", TREES)
def test_every_fstring_has_a_placeholder(tree):
    found = [f"{path.relative_to(REPO)}:{line}" for path in sorted((REPO / tree).rglob("*.py"))
             for line in placeholderless_fstrings(path.read_text(encoding="utf-8"))]
    assert not found, f"f-strings without a placeholder: {found}"
