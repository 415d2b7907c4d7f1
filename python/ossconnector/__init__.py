"""ossconnector: fast access to Alibaba Cloud OSS for AI/ML workloads.

The native engine (libossc_preload.so) is loaded on first use of a name that
needs it, so pure-Python parts such as ``ossconnector.emulator`` import
without it.
"""

__all__ = ["Client"]
__version__ = "0.1.0"


def __getattr__(name):
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(f"module 'ossconnector' has no attribute {name!r}")
