"""``vllm serve oss://bucket/model/``: the oss:// model argument made local.

vLLM reads a model's config and tokenizer from a local directory (or the
Hugging Face hub) in the process that parses the arguments, long before a
model loader runs; only ``s3://``, ``gs://`` and ``az://`` are special-cased,
hard-wired to Run:ai's streamer (``ModelConfig.maybe_pull_model_tokenizer_for_runai``).
Its plugin interface offers no hook for another URI scheme, so the plugin
wraps the two ``EngineArgs`` methods every entry point goes through
(``__post_init__``: ``vllm serve``, whose argument parser loads the plugins
first; ``create_engine_config``: ``LLM(...)``, which loads them inside the
first ``__post_init__``) with ``resolve``, which runs before vLLM looks at
the model:

- the model's small files (config, tokenizer, index) are mirrored into the
  settings' ``model_dir`` with the model connector (``prepare_directory``
  with lazy hooks, closed at once: nothing large is fetched here, and no hook
  stays installed in the API server);
- ``model`` becomes that directory, ``model_weights`` the oss:// URI (the
  field vLLM itself uses for an object-storage source of the weights, which
  travels to the workers in the config), ``served_model_name`` defaults to
  the URI the user typed, and ``load_format`` "auto" becomes "oss".

The weights are fetched by the workers (``loader.OssModelLoader``).
"""

from __future__ import annotations

import functools
import logging
import os

from .settings import LOAD_FORMAT, LoaderSettings

__all__ = ["install", "resolve"]

_log = logging.getLogger("ossconnector.vllm")
_INSTALLED_MARK = "_ossconnector_oss_models"


def is_oss_uri(value) -> bool:
    return isinstance(value, str) and value.startswith("oss://")


def resolve(args) -> None:
    """Rewrites an ``EngineArgs`` whose model is ``oss://...`` in place (see
    the module docstring); anything else is left alone.  Idempotent: once
    resolved, the model is a local directory."""
    uri = args.model
    if not is_oss_uri(uri):
        return
    if args.load_format in (None, "auto"):
        args.load_format = LOAD_FORMAT
    elif args.load_format != LOAD_FORMAT:
        raise ValueError(f"model {uri!r} is in OSS: it needs --load-format {LOAD_FORMAT} "
                         f"(not {args.load_format!r})")
    settings = LoaderSettings.from_extra_config(args.model_loader_extra_config)
    prefix = uri if uri.endswith("/") else uri + "/"
    directory = settings.directory_for(prefix)
    mirror_small_files(settings, prefix, directory)
    _log.info("model %s: config and tokenizer mirrored into %s", prefix, directory)
    if args.tokenizer in (uri, prefix):
        args.tokenizer = directory
    if args.served_model_name is None:
        args.served_model_name = uri
    args.model = directory
    args.model_weights = prefix


def mirror_small_files(settings: LoaderSettings, uri: str, directory: str) -> None:
    """The small files of ``uri`` in ``directory`` (the large ones are
    fetched by the loader).  A lazy prepared directory fetches no large
    file; closing it removes its placeholders and keeps the small files and
    the manifest, so the loader's ``prepare_directory`` later adopts the
    directory.  Missing parents of ``directory`` are created
    (``prepare_directory`` creates the directory itself)."""
    os.makedirs(os.path.dirname(directory), exist_ok=True)
    with settings.connector() as connector:
        connector.prepare_directory(uri, directory, libc_hook=True, lazy=True,
                                    **settings.prepare_options())


def install() -> None:
    """Wraps ``EngineArgs.__post_init__`` and ``create_engine_config`` with
    ``resolve`` once per process (vLLM loads plugins in every process, and
    may load them more than once)."""
    from vllm.engine.arg_utils import EngineArgs

    if getattr(EngineArgs, _INSTALLED_MARK, False):
        return
    post_init = EngineArgs.__post_init__
    create_engine_config = EngineArgs.create_engine_config

    @functools.wraps(post_init)
    def resolved_post_init(self):
        resolve(self)
        post_init(self)

    @functools.wraps(create_engine_config)
    def resolved_create_engine_config(self, *args, **kwargs):
        resolve(self)
        return create_engine_config(self, *args, **kwargs)

    EngineArgs.__post_init__ = resolved_post_init
    EngineArgs.create_engine_config = resolved_create_engine_config
    setattr(EngineArgs, _INSTALLED_MARK, True)
