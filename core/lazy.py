"""Modules imported at their first use instead of when the module naming them is imported.

The URLconf imports every view module, and `manage.py check`, a web worker's start and any
command that reverses a URL load the URLconf. A view module that imported its services at the
top made every one of them wait ~2 s for pandas, scipy and plotly. Such a view module names
those modules with `lazy_module`; mypy and tests/test_layers.py see the real import under
`if TYPE_CHECKING:`, and a web worker imports them before its first request (config/warmup.py).
tests/test_startup_imports.py checks that URL loading stays clear of the science stack.
"""

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    """Stands for the module `name`: the first attribute read imports it, every read is forwarded."""

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _module(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._module(), attr)

    # monkeypatch.setattr(views.services, ...) patches the real module, as it would without this proxy.
    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._module(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._module(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


_NAMED: set[str] = set()


def lazy_module(name: str) -> Any:
    """The module `name` (absolute), imported when one of its attributes is first read."""
    _NAMED.add(name)
    return _LazyModule(name)


def import_named() -> None:
    """Import every module named with `lazy_module` so far (a web worker's warm-up)."""
    for name in sorted(_NAMED):
        importlib.import_module(name)
