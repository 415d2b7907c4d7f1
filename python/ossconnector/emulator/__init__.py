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

from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "Emulator": ".emulator",
    "EmulatorProcess": ".process",
    "AdminClient": ".client",
    "EmulatorConfig": ".config",
    "FaultSpec": ".faults",
})
