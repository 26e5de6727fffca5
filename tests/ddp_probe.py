"""A test-only probe for ``domainemb adapt`` subprocesses: what each process trained on, and its weights.

It is loaded by a ``sitecustomize.py`` that :func:`probe_environment` writes into a temporary folder
on ``PYTHONPATH``, so the product runs unchanged (the CLI, under ``torchrun`` or not). Once the
trainer module is imported it patches ``transformers.Trainer`` so that every process writes
``$DDP_PROBE_DIR/rank-$RANK.pt`` at the end of training, holding:

- ``batches``: per optimizer step, a digest of the token ids the process trained on;
- ``weights``: per optimizer step, a digest of every parameter right after the optimizer step;
- ``final``: every parameter after the last optimizer step (taken before the trainer loads its best
  checkpoint back, which all ranks read from rank 0's folder and so would hide a divergence).

``DDP_PROBE_SHARD=INDEX/COUNT`` makes a single process train on exactly the shard of batches that
process ``INDEX`` of ``COUNT`` gets under DDP: accelerate shards the training batches as it would
with ``COUNT`` processes, keeping ``INDEX``'s.

A ``sitecustomize.py`` further along ``PYTHONPATH`` still runs after the probe, so a check can put one
there that breaks the product in the subprocesses only (say, DDP's gradient all-reduce).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

#: Loads this file in each subprocess, then any ``sitecustomize`` further along the path (ours must not hide it).
_SITECUSTOMIZE = """\
import importlib.util, os, runpy, sys

_spec = importlib.util.spec_from_file_location("ddp_probe", {probe!r})
_probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_probe)
_probe.install()
_here = os.path.dirname(os.path.abspath(__file__))
_later = [p for p in sys.path if p and os.path.abspath(p) != _here]
for _path in (os.path.join(p, "sitecustomize.py") for p in _later):
    if os.path.isfile(_path):
        runpy.run_path(_path, run_name="sitecustomize")
        break
"""


def probe_environment(site: Path, records: Path, shard: str | None = None) -> dict[str, str]:
    """The environment for a subprocess to probe: ``site`` gets the ``sitecustomize.py``, records go to ``records``.

    Args:
        site: An empty folder for the ``sitecustomize.py``; it goes first on ``PYTHONPATH``.
        records: Where each process writes ``rank-N.pt``.
        shard: ``"INDEX/COUNT"`` to train one process on DDP process INDEX's shard of batches.
    """
    site.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(probe=str(Path(__file__).resolve())))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DDP_PROBE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env["DDP_PROBE_DIR"] = str(records)
    if shard:
        env["DDP_PROBE_SHARD"] = shard
    return env


def install() -> None:
    """Patch the trainer (and accelerate's sharding, where asked) when each is first imported."""
    if not os.environ.get("DDP_PROBE_DIR"):
        return
    _after_import("transformers.trainer", _patch_trainer)
    if os.environ.get("DDP_PROBE_SHARD"):
        _after_import("accelerate.accelerator", _patch_data_loader_sharding)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``action(module)`` once ``name`` has been imported (the rest of the import is untouched)."""

    def __init__(self, name: str, action: Callable[[ModuleType], None]) -> None:
        self.name = name
        self.action = action

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            self.action(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _after_import(name: str, action: Callable[[ModuleType], None]) -> None:
    if name in sys.modules:
        action(sys.modules[name])
    else:
        sys.meta_path.insert(0, _AfterImport(name, action))


def _digest(tensors: list[Any]) -> str:
    sha = hashlib.sha256()
    for tensor in tensors:
        sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return sha.hexdigest()


def _patch_trainer(module: ModuleType) -> None:
    import torch
    from transformers import TrainerCallback

    trainer_class = module.Trainer
    record: dict[str, Any] = {"batches": [], "weights": [], "final": None}

    class Probe(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            params = dict(model.named_parameters())
            record["weights"].append(_digest([params[name] for name in sorted(params)]))
            record["final"] = {name: p.detach().cpu().clone() for name, p in params.items()}

        def on_train_end(self, args, state, control, **kwargs):
            out = Path(os.environ["DDP_PROBE_DIR"]) / f"rank-{os.environ.get('RANK', '0')}.pt"
            torch.save(record, out)

    original_init = trainer_class.__init__
    original_step = trainer_class.training_step

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.add_callback(Probe())

    def training_step(self, model, inputs, *args, **kwargs):
        ids = sorted(key for key in inputs if key.endswith("input_ids"))
        record["batches"].append(_digest([inputs[key] for key in ids]))
        return original_step(self, model, inputs, *args, **kwargs)

    trainer_class.__init__ = __init__
    trainer_class.training_step = training_step


def _patch_data_loader_sharding(module: ModuleType) -> None:
    index, count = (int(part) for part in os.environ["DDP_PROBE_SHARD"].split("/"))
    prepare = module.prepare_data_loader

    def prepare_data_loader(data_loader, *args, **kwargs):
        kwargs.update(num_processes=count, process_index=index)
        return prepare(data_loader, *args, **kwargs)

    module.prepare_data_loader = prepare_data_loader
