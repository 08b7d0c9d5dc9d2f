"""The house rules of the package layout, checked over every module's imports (README, "Layout").

- `logic/` is pure: it imports nothing of `lib/`, `api/`, `defs/`, `settings`, the CLI or the
  definitions, and no Dagster; it does not reach into their package data either.
- `settings` sits at the bottom: it reads and validates the environment with the standard library
  and `logic/` (pure parsers) only.
- `lib/` (integrations) never imports the Dagster layer (`defs/`, `definitions`), the API or the CLI.
- `logic/` is grouped like `defs/`: no flat modules, each folder named after a stage of `defs/`.

Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wallet_pipeline"

ABOVE_LOGIC = ("lib", "api", "defs", "settings", "cli", "definitions")
ABOVE_SETTINGS = ("lib", "api", "defs", "cli", "definitions")
ABOVE_LIB = ("api", "defs", "cli", "definitions")


def _modules(folder: str) -> list[Path]:
    root = PACKAGE / folder if folder else PACKAGE
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            # `from wallet_pipeline import settings` imports the settings module.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            found.append((node.lineno, module))
    return found


def _violations(folder: str, banned: tuple[str, ...], also: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in _modules(folder):
        for line, module in _imports(path):
            parts = module.split(".")
            layer = parts[1] if parts[0] == "wallet_pipeline" and len(parts) > 1 else None
            if layer in banned or parts[0] in also:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return sorted(set(bad))


def test_logic_imports_nothing_above_it_and_no_dagster() -> None:
    assert _violations("logic", ABOVE_LOGIC, also=("dagster", "dagster_dbt")) == []


def test_logic_reads_no_package_data_of_the_layers_above() -> None:
    # importlib.resources and file paths reach a layer without an import statement: any string in
    # code (not a docstring) naming a layer above counts.
    bad = []
    for path in _modules("logic"):
        tree = ast.parse(path.read_text())
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value.replace("/", ".")
                if any(f"wallet_pipeline.{layer}" in text for layer in ABOVE_LOGIC):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value!r}")
    assert bad == []


def test_logic_is_grouped_by_the_stages_of_defs() -> None:
    stages = {d.name for d in (PACKAGE / "defs").iterdir() if (d / "__init__.py").exists()}
    logic = PACKAGE / "logic"
    flat = sorted(p.name for p in logic.glob("*.py") if p.name != "__init__.py")
    folders = sorted(d.name for d in logic.iterdir() if (d / "__init__.py").exists())
    assert flat == []
    # An engine's folder holds its versions of several stages' steps (WALLET_ENGINE, docs/spark.md).
    engines = {"spark"}
    assert set(folders) <= stages | engines, f"logic/ folders without a defs/ stage: {set(folders) - stages}"


def test_settings_imports_only_logic() -> None:
    assert _violations("settings.py", ABOVE_SETTINGS) == []


def test_lib_never_imports_dagster_definitions_api_or_cli() -> None:
    assert _violations("lib", ABOVE_LIB) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from wallet_pipeline.lib import dune\n",
            "wallet_pipeline/logic/x.py:1 imports wallet_pipeline.lib",
        ),
        ("def f():\n    from wallet_pipeline import settings\n", "imports wallet_pipeline.settings"),
        ("from ...api.auth import hash_key\n", "imports wallet_pipeline.api.auth"),
        ("import dagster as dg\n", "imports dagster"),
    ],
)
def test_the_check_finds_each_kind_of_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, expected: str
) -> None:
    # A fake package with one offending logic module: the check must see every form of import.
    fake = tmp_path / "wallet_pipeline"
    (fake / "logic" / "sub").mkdir(parents=True)
    target = fake / "logic" / ("sub/x.py" if source.startswith("from ...") else "x.py")
    target.write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", fake)
    found = _violations("logic", ABOVE_LOGIC, also=("dagster",))
    assert any(expected.split(" imports ")[-1] in v for v in found), found
