"""``StageCache``: a folder of a prune run's reusable stages, so that a sweep or a rerun does not
repeat them.

Two stages of ``domainemb prune`` depend only on the dense model and the calibration data, not on
the method: the k-means choice of calibration pairs (embedding up to ``candidate_pool`` queries,
then k-means) and the streamed gradient moments (a forward and backward pass over every pair).
GAPrune with either DAI variant, domain-Fisher and general-Fisher, one-shot or retrained,
unstructured or structured, all read the same ones, and the general side is the same for every
domain. Each entry is keyed by a sha256 of everything that decides it; a changed input is a new
key, never a stale hit. Entries are written atomically (temporary file, then rename), so an
interrupted run leaves either a whole entry or none.

Layout::

    ROOT/calibration-<key>.jsonl    the chosen pairs, in the pairs file format (domainemb.pairs)
    ROOT/moments-<key>.safetensors  sum and sum of squares of the batch gradients, and the batch count
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domainemb.atomic import write_atomic
from domainemb.pairs import Pair, pair_from_record, write_pairs
from domainemb.prune.gradients import GradientMoments


def stage_key(**parts: Any) -> str:
    """sha256 hex of ``parts`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def pairs_digest(pairs: Sequence[Pair]) -> str:
    """sha256 hex of the pairs' texts and document ids, in order."""
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(json.dumps([p.query, p.positive, list(p.negatives), p.doc_id]).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class StageCache:
    """Calibration choices and gradient moments on disk, by key (see the module docstring)."""

    root: Path

    def calibration(self, key: str) -> tuple[Pair, ...] | None:
        """The pairs stored under ``key``, or ``None``."""
        path = self.root / f"calibration-{key}.jsonl"
        if not path.is_file():
            return None
        # Every stored pair, in order: not read_pairs, which would drop exact repeats the choice kept.
        lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line]
        return tuple(pair_from_record(json.loads(line), f"{path}: line {n}") for n, line in enumerate(lines, start=1))

    def put_calibration(self, key: str, pairs: Sequence[Pair]) -> None:
        write_pairs(self.root / f"calibration-{key}.jsonl", pairs)

    def moments(self, key: str, device: str = "cpu") -> GradientMoments | None:
        """The gradient moments stored under ``key`` (on ``device``), or ``None``."""
        from safetensors import safe_open

        path = self.root / f"moments-{key}.safetensors"
        if not path.is_file():
            return None
        moments = GradientMoments()
        with safe_open(str(path), framework="pt") as f:
            moments.batches = int(f.metadata()["batches"])
            for name in f.keys():
                kind, _, weight = name.partition("/")
                getattr(moments, kind)[weight] = f.get_tensor(name).to(device)
        return moments

    def put_moments(self, key: str, moments: GradientMoments) -> None:
        from safetensors.torch import save_file

        tensors = {
            f"{kind}/{name}": t.detach().cpu().contiguous()
            for kind in ("sum", "sum_sq")
            for name, t in getattr(moments, kind).items()
        }
        write_atomic(
            self.root / f"moments-{key}.safetensors",
            lambda tmp: save_file(tensors, str(tmp), metadata={"batches": str(moments.batches)}),
        )
