"""No import runs upward through the layers (docs/ARCHITECTURE.md, "Layers"):

    avfr (the command, the demo)   benchmarks    applications: each may import every layer below
         sender        receiver                  peers: neither imports the other
                   codec                         the library
                   proto                         the wire format

A package imports only the layers below its own; the one crossing at the top is listed in
EXCEPTIONS. Every .py file of each package is parsed with ``ast``, imports inside functions
included: the project imports heavy modules late, and a late import must not hide an upward one.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent

# The project's packages and what each may import from the others (itself always).
MAY_IMPORT: dict[str, set[str]] = {
    "proto": set(),
    "codec": {"proto"},
    "sender": {"codec", "proto"},
    "receiver": {"codec", "proto"},
    "avfr": {"sender", "receiver", "codec", "proto"},
    "benchmarks": {"sender", "receiver", "codec", "proto"},
}
# Single imports allowed between the two top packages: (importing file, module) -> why.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("avfr/cli.py", "benchmarks.rd"): "`avfr bench` hands its arguments to the rate-distortion benchmark",
}


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth: ``import x``,
    ``from x import y``, and ``importlib.import_module("x")`` / ``__import__("x")`` with a literal
    name. Relative imports stay inside their own package and are left out."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                yield node.lineno, name.value


def _is_dynamic_import(func: ast.expr) -> bool:
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return called in ("import_module", "__import__")


def layer_violations(root: Path) -> tuple[list[str], set[tuple[str, str]]]:
    """``file:line: ...`` for each import of a package its layer may not use, and the
    exceptions that were met (an exception no import needs any more should go)."""
    found, used = [], set()
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            for line, module in sorted(imported_modules(path)):
                top = module.split(".")[0]
                if top not in MAY_IMPORT or top == package or top in allowed:
                    continue
                if (where, module) in EXCEPTIONS:
                    used.add((where, module))
                    continue
                found.append(f"{where}:{line}: {package} imports {module}; {package} may import only {sorted(allowed) or 'itself'}")
    return found, used


def test_no_import_runs_upward() -> None:
    found, _ = layer_violations(REPO)
    assert not found, "imports against the layers (tests/test_layers.py, docs/ARCHITECTURE.md):\n" + "\n".join(found)


def test_every_exception_is_still_needed() -> None:
    _, used = layer_violations(REPO)
    assert used == set(EXCEPTIONS), f"no import needs these exceptions any more: {sorted(set(EXCEPTIONS) - used)}"


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert packages <= set(MAY_IMPORT), f"give these packages a layer in MAY_IMPORT: {sorted(packages - set(MAY_IMPORT))}"


def test_an_upward_import_inside_a_function_is_named_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "codec").mkdir()
    (tmp_path / "codec" / "late.py").write_text(
        "import numpy\nfrom proto import avfr_pb2\n\n\ndef f():\n    from sender.encoder import encode_file\n"
        "    return importlib.import_module('receiver.decoder')\n"
    )
    (tmp_path / "sender").mkdir()
    (tmp_path / "sender" / "peer.py").write_text("import receiver.live\nfrom codec import model\n")
    found, _ = layer_violations(tmp_path)
    assert [f.split(";")[0] for f in found] == [
        "codec/late.py:6: codec imports sender.encoder",
        "codec/late.py:7: codec imports receiver.decoder",
        "sender/peer.py:1: sender imports receiver.live",
    ]
