"""Names a package exports but imports on first use, so that importing the
package stays cheap (no torch, no native engine) until a name is asked for.

A package sets ``__getattr__, __dir__ = lazy_exports(__name__, __all__,
homes)`` where ``homes`` maps each exported name to the module it lives in:
relative to the package (``".tar"``) or absolute
(``"ossconnector.checkpoint.dcp"``).  Each access after the first import is
a dict lookup plus ``importlib``'s cached module lookup."""

from __future__ import annotations

import importlib


def lazy_exports(package, names, homes):
    """Returns the module-level ``__getattr__`` and ``__dir__`` for
    ``package``: a name in ``homes`` is imported from its module; any other
    raises ``AttributeError`` naming the package, as a plain module does."""

    def __getattr__(name):
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home, package), name)

    def __dir__():
        return sorted(names)

    return __getattr__, __dir__
