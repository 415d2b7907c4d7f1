"""``--load-format oss``: the weights of an oss:// model, through the node cache.

Runs in every vLLM worker.  ``model_weights`` is the oss:// prefix and
``model`` the local directory ``model_argument.resolve`` mirrored the small
files into.  ``prepare_directory`` (default mode) fetches the large files
into the node-wide cache -- once per node, whichever processes ask: the
workers of this server, LD_PRELOAD users of the same directory, other
``prepare_directory`` callers -- and links them from the directory; vLLM's
own safetensors loader then reads the links (index filtering, tensor
parallel slicing, every model architecture: nothing re-implemented here).
The connector is closed once the weights are loaded, so the cache is
unpinned and removed by the last process that used it.

Ranks (tensor/pipeline parallel workers) prepare the directory one local
rank at a time, with a barrier on vLLM's world group after each step, and
all of them have attached before any loads and closes:
- a rank that finished loading and closed could otherwise take the cache
  away before a slower rank attached, which would then fetch the model a
  second time;
- two processes linking the same placeholder at the same moment collide on
  the node cache's temporary link name ("cannot link ... File exists", seen
  with TP=2); one after the other, the later ones find the links made.
Local rank 0 on every node fetches; the others join its finished cache, so
the steps after the first cost milliseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time

from vllm.config import ModelConfig
from vllm.config.load import LoadConfig
from vllm.model_executor.model_loader.base_loader import BaseModelLoader
from vllm.model_executor.model_loader.default_loader import DefaultModelLoader

from .model_argument import is_oss_uri
from .settings import LOAD_FORMAT, LoaderSettings

__all__ = ["OssModelLoader"]

_log = logging.getLogger("ossconnector.vllm")


def _one_local_rank_at_a_time(step) -> None:
    """Runs ``step()`` in each local rank in turn (all nodes at once), with
    a barrier on vLLM's world group after each turn; just ``step()`` where
    vLLM runs no distributed group.  A failed step is raised once every
    turn is done, so the other ranks are not left at a barrier."""
    from vllm.distributed import parallel_state

    if not parallel_state.model_parallel_is_initialized():
        step()
        return
    world = parallel_state.get_world_group()
    failure = None
    for turn in range(world.world_size):
        if world.local_rank == turn:
            try:
                step()
            except Exception as exc:  # raised after the turns: no rank waits forever
                failure = exc
        world.barrier()
    if failure is not None:
        raise failure


class OssModelLoader(BaseModelLoader):
    """A model loader for ``--load-format oss`` (see the module docstring)."""

    def __init__(self, load_config: LoadConfig):
        super().__init__(load_config)
        self.settings = LoaderSettings.from_extra_config(load_config.model_loader_extra_config)
        # vLLM's loader for the local files: safetensors, no extra keys (ours
        # would be unknown to it).
        self._local = DefaultModelLoader(dataclasses.replace(
            load_config, load_format="safetensors", model_loader_extra_config={}))

    @contextlib.contextmanager
    def _prepared(self, model_config: ModelConfig):
        uri = model_config.model_weights
        if not is_oss_uri(uri):
            raise ValueError(f"--load-format {LOAD_FORMAT} needs an oss:// model "
                             f"(got model={model_config.model!r}, model_weights={uri!r})")
        started = time.monotonic()
        # The API server made model_dir's parents on its host; a worker may run
        # on another (multi-node tensor/pipeline parallel) where they are missing.
        os.makedirs(os.path.dirname(os.path.abspath(model_config.model)), exist_ok=True)
        with self.settings.connector() as connector:
            _one_local_rank_at_a_time(lambda: connector.prepare_directory(
                uri, model_config.model, **self.settings.prepare_options()))
            _log.info("%s: weights in the node cache after %.1f s", uri,
                      time.monotonic() - started)
            yield model_config.model

    def download_model(self, model_config: ModelConfig) -> None:
        with self._prepared(model_config):
            pass

    def load_weights(self, model, model_config: ModelConfig) -> None:
        with self._prepared(model_config):
            self._local.load_weights(model, model_config)
