"""In-process emulator: the server runs in a background thread.

Contract::

    with Emulator(access_key_id="ak", access_key_secret="sk", port=0,
                  domain="ossemu.test", buckets=["data"]) as emu:
        emu.endpoint            # "http://127.0.0.1:PORT"
        emu.create_bucket("b")  # and every AdminClient method
        emu.faults.error(503, count=2, key="k")
        emu.stats()

``port=0`` picks a free port.  All emulators of one process share moto's
store (use distinct bucket names).  For a separate process (no GIL
contention with the code under test) use :meth:`Emulator.spawn`, which
returns a started :class:`~.process.EmulatorProcess` with the same API.
"""

import threading

from .app import EmulatorApp
from .client import AdminClient
from .config import EmulatorConfig
from .httpserver import ThreadedWSGIServer


def make_config(**options):
    """EmulatorConfig from keyword options (``buckets`` as any iterable)."""
    if "buckets" in options:
        options["buckets"] = tuple(options["buckets"] or ())
    if options.get("extra_credentials") is None:
        options.pop("extra_credentials", None)
    return EmulatorConfig(**options)


class Emulator(AdminClient):
    def __init__(self, **options):
        super().__init__()
        self.config = make_config(**options)
        self.app = None
        self.server = None
        self._thread = None

    @property
    def host(self):
        return self.config.host

    @property
    def port(self):
        return self.server.port if self.server else self.config.port

    @property
    def access_key_id(self):
        return self.config.access_key_id

    @property
    def access_key_secret(self):
        return self.config.access_key_secret

    @property
    def region(self):
        return self.config.region

    def start(self):
        if self.server is not None:
            return self
        self.app = EmulatorApp(self.config)
        for name in self.config.buckets:
            self.app.ensure_bucket(name)
        self.server = ThreadedWSGIServer(self.config.host, self.config.port, self.app, quiet=self.config.quiet)
        host = self.config.host
        self.endpoint = "http://%s:%d" % ("[%s]" % host if ":" in host else host, self.server.port)
        started = threading.Event()

        def serve():
            started.set()
            self.server.serve_forever()

        self._thread = threading.Thread(target=serve, name="ossemu-server", daemon=True)
        self._thread.start()
        started.wait()
        while not getattr(self.server, "_serving", False) and self._thread.is_alive():
            threading.Event().wait(0.001)
        return self

    def stop(self):
        if self.server is None:
            return
        self.app.faults.clear()  # releases held requests; no pending hold catches one more
        self.server.stop()
        self._thread.join(timeout=10)
        self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @staticmethod
    def spawn(**options):
        """Start ``python -m ossconnector.emulator`` with these options; returns it started."""
        from .process import EmulatorProcess
        return EmulatorProcess(**options).start()
