"""Emulator settings shared by the CLI, the in-process API and the WSGI app.

Contract: :class:`EmulatorConfig` is a plain value object.  ``credentials``
maps access key id -> secret (the primary pair is always included);
``region`` is the OSS region id without the ``oss-`` prefix (``cn-hangzhou``)
and is the only region accepted in V4 credential scopes; ``domain`` (e.g.
``ossemu.test``) enables virtual-hosted addressing for ``Host: <bucket>.<domain>``;
``max_skew`` is the allowed clock difference in seconds (``None``/0 disables
the check); ``min_part_size`` is the smallest allowed size of every
multipart part but the last (100 KiB, as OSS).
"""

from dataclasses import dataclass, field

DEFAULT_ACCESS_KEY_ID = "ossemu-access-key-id"
DEFAULT_ACCESS_KEY_SECRET = "ossemu-access-key-secret"
DEFAULT_REGION = "cn-hangzhou"
DEFAULT_MAX_SKEW = 15 * 60
ADMIN_PREFIX = "/_emulator"


@dataclass
class EmulatorConfig:
    access_key_id: str = DEFAULT_ACCESS_KEY_ID
    access_key_secret: str = DEFAULT_ACCESS_KEY_SECRET
    host: str = "127.0.0.1"
    port: int = 0
    region: str = DEFAULT_REGION
    domain: str | None = None
    max_skew: float | None = DEFAULT_MAX_SKEW
    extra_credentials: dict = field(default_factory=dict)
    buckets: tuple = ()
    quiet: bool = True
    min_part_size: int = 100 * 1024

    @property
    def credentials(self):
        creds = dict(self.extra_credentials)
        creds[self.access_key_id] = self.access_key_secret
        return creds

    def normalized_domain(self):
        if not self.domain:
            return None
        return self.domain.strip(".").lower()
