"""scoring.dicom and scoring.detector are plain Python (numpy, pydicom, Pillow, scikit-learn): they
import neither Django nor the Django side of scoring, so they run (and are tested) without settings."""

import ast
from pathlib import Path

import pytest

SCORING = Path(__file__).resolve().parents[2] / "scoring"
PURE = ("dicom", "detector")
ALLOWED_SCORING = tuple(f"scoring.{name}" for name in PURE)
PROJECT = ("django", "rest_framework", "celery", "core", "registry", "analytics", "demo", "config")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "scoring":
            names |= {f"scoring.{alias.name}" for alias in node.names}  # from scoring import services
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE)
def test_the_pure_packages_import_nothing_from_django_or_the_apps(package):
    found = []
    for path in sorted((SCORING / package).rglob("*.py")):
        for name in sorted(_imports(path)):
            top = name.split(".")[0]
            if top in PROJECT or (top == "scoring" and not name.startswith(ALLOWED_SCORING)):
                found.append(f"{path.relative_to(SCORING.parent)} imports {name}")
    assert found == []
