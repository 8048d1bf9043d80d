"""Dependencies run one way: core <- registry <- followup <- scoring <- analytics <- demo. A module may import
its own layer and the layers below it, never one above (imports inside functions included)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "registry", "followup", "scoring", "analytics", "demo")


def _imported(path: Path) -> set[str]:
    """Top-level package names a module imports, wherever in the module the import is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def _upward_imports(layer: str) -> list[str]:
    above = set(LAYERS[LAYERS.index(layer) + 1 :])
    found = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in sorted(_imported(path) & above):
            found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_module_imports_a_layer_above_its_own(layer):
    assert _upward_imports(layer) == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from scoring.selectors import x\n    import analytics.datasets\n"
        "    importlib.import_module('demo.apps')\n",
        encoding="utf-8",
    )
    assert _imported(module) == {"scoring", "analytics", "demo"}
