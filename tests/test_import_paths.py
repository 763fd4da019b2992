"""One import path for everything: each name is imported from the module that defines it.

After a layout move an old name can live on as a re-export (``from new import x`` in the old
place, or in a neighbour) or as a script in a string that a subprocess runs; both keep working
by accident, or break only when that subprocess runs. This reads every ``from gemmacode...
import`` in the package, the tests and the benchmarks (and in the Python source held in their
string literals) and checks that the name is a module or is defined, not merely imported, in
the module named.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _sources() -> Iterator[Path]:
    for folder in ("gemmacode", "tests", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "_repos" not in path.parts and "_data" not in path.parts:
                yield path


def _module_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking into if/try/with blocks but not into defs."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _top_level(node.body)
            yield from _top_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody):
                yield from _top_level(part)
            for handler in node.handlers:
                yield from _top_level(handler.body)


@cache
def _defined(module: str) -> frozenset[str] | None:
    """Names ``module`` defines itself (None: it answers any name via ``__getattr__``)."""
    path = _module_file(module)
    if path is None:
        return frozenset()
    names: set[str] = set()
    for node in _top_level(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return None if "__getattr__" in names else frozenset(names)


def _imports(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) of every ``from gemmacode... import name``, including those in
    string literals that parse as Python (scripts handed to a subprocess)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "gemmacode" or node.module.startswith("gemmacode."):
                for alias in node.names:
                    yield node.lineno, node.module, alias.name
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and "import" in node.value
            and "gemmacode" in node.value
        ):
            try:
                inner = ast.parse(node.value)
            except SyntaxError:
                continue
            for _line, module, name in _imports(inner):
                yield node.lineno, module, name


def test_every_name_is_imported_from_the_module_that_defines_it() -> None:
    problems: list[str] = []
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, module, name in _imports(tree):
            where = f"{path.relative_to(ROOT)}:{line}"
            if _module_file(module) is None:
                problems.append(f"{where}: no module {module}")
                continue
            if name == "*" or _module_file(f"{module}.{name}") is not None:
                continue
            defined = _defined(module)
            if defined is not None and name not in defined:
                problems.append(
                    f"{where}: {module} does not define {name} (import it from where it is defined)"
                )
    assert not problems, "\n".join(problems)
