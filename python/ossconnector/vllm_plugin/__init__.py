"""vLLM plugin: ``vllm serve oss://bucket/model/ --load-format oss``.

Registered under vLLM's ``vllm.general_plugins`` entry point (pyproject.toml),
so vLLM calls ``register`` in each of its processes -- the API server, the
engine core, every worker.  ``register`` adds the ``oss`` load format to
vLLM's model-loader registry (``register_model_loader``, the documented way)
and makes vLLM accept an ``oss://`` model argument (``model_argument``: the
config and tokenizer are mirrored into a local directory first, as vLLM does
itself for ``s3://`` with Run:ai's streamer).  Knobs:
``--model-loader-extra-config`` JSON (``settings``).  docs/vllm.md has the
user's side, and why this form.

Importing this package does not import vLLM; ``register`` does.
"""

from __future__ import annotations

from .settings import LOAD_FORMAT, LoaderSettings

__all__ = ["register", "LoaderSettings", "LOAD_FORMAT"]

_registered = False


def register() -> None:
    """vLLM's plugin entry point; safe to call more than once per process.
    Call it yourself before ``vllm.LLM(model="oss://...")`` when vLLM's
    plugin loading is restricted (``VLLM_PLUGINS``)."""
    global _registered
    if _registered:
        return
    from vllm.model_executor.model_loader import register_model_loader

    from . import model_argument
    from .loader import OssModelLoader

    register_model_loader(LOAD_FORMAT)(OssModelLoader)
    model_argument.install()
    _registered = True
