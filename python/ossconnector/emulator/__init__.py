"""Local Alibaba Cloud OSS emulator for tests (moto's S3 store behind an OSS layer).

Public names (imported lazily so that ``import ossconnector.emulator`` is cheap):

- :class:`Emulator` - in-process server in a background thread;
  ``Emulator.spawn(**options)`` starts a subprocess instead.
- :class:`EmulatorProcess` - the subprocess handle (same control API).
- :class:`AdminClient` - control API over HTTP for an emulator started elsewhere.
- :class:`EmulatorConfig`, :class:`FaultSpec`.
- :mod:`.testing` - helpers for pytest fixtures.

CLI: ``python -m ossconnector.emulator --help``.
"""

__all__ = ["Emulator", "EmulatorProcess", "AdminClient", "EmulatorConfig", "FaultSpec"]

_LAZY = {
    "Emulator": ("emulator", "Emulator"),
    "EmulatorProcess": ("process", "EmulatorProcess"),
    "AdminClient": ("client", "AdminClient"),
    "EmulatorConfig": ("config", "EmulatorConfig"),
    "FaultSpec": ("faults", "FaultSpec"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module("." + module, __name__), attr)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
