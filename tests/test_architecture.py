"""The package map of docs/architecture.md holds: each part imports only the parts below it, and
no module or class outgrows the sizes the map allows without saying why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "provenance"

CORE = {
    "__version__",
    "_declining",
    "_lazy",
    "_native",
    "bounded",
    "canonical",
    "dsse",
    "errors",
    "keys",
    "limits",
    "manifest",
    "merkle",
    "native",
    "project",
    "record",
    "stats",
    "text",
    "trust",
}
"""The record format and its primitives: any part may import them."""

MAY_IMPORT: dict[str, set[str]] = {
    "sources/": set(),
    "verify/": {"sources/"},
    "scan": {"sources/", "verify/"},
    "sign/": {"sources/", "scan"},
    "policy/": set(),
    "auditor/": {"sources/", "verify/", "scan", "policy/"},
    "report/": {"auditor/", "policy/"},
    "registry/": {"sources/", "verify/", "scan", "policy/"},
    "cli/": {"*"},
    "__main__": {"cli/"},
    "provenance": {"auditor/", "sign/", "verify/"},
}
"""Which parts each part may import besides the core (``*``: any)."""

LINES = 600
CLASS_LINES = 300
REASON = re.compile(r"over (about )?\d+ lines because", re.IGNORECASE)


def _part(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "provenance"
    name = parts[1]
    return f"{name}/" if (PACKAGE / name).is_dir() else name


def _modules() -> list[tuple[Path, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((path, ".".join(parts)))
    return out


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "provenance":
                found.update(f"provenance.{alias.name}" for alias in node.names)
            elif node.module.startswith("provenance."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("provenance."))
    return found


def test_each_part_imports_only_the_parts_below_it() -> None:
    wrong = []
    for path, module in _modules():
        part = _part(module)
        allowed = MAY_IMPORT.get(part)
        if allowed is None:
            assert part in CORE, f"{module}: a part docs/architecture.md does not place"
            allowed = set()
        if "*" in allowed:
            continue
        for target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            other = _part(target)
            if other != part and other not in CORE and other not in allowed:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_modules_and_classes_stay_small_or_say_why() -> None:
    large = []
    for path, module in _modules():
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        if text.count("\n") > LINES and not REASON.search(ast.get_docstring(tree) or ""):
            large.append(f"{module}: {text.count(chr(10))} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > CLASS_LINES and not REASON.search(ast.get_docstring(node) or ""):
                    large.append(f"{module}.{node.name}: {size} lines")
    assert large == []
