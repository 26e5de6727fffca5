"""A compressed on-disk form for unstructured-pruned models, and its loader.

Every ``*.safetensors`` file of a sentence-transformers folder is rewritten as
``*.sparse.safetensors``: a tensor with enough exact zeros is stored as a bitmask of its nonzero
positions (1 bit per weight, ``<name>::mask``) plus the nonzero values in order
(``<name>::values``, original dtype); other tensors are stored unchanged. At 50% FFN sparsity an
fp32 FFN matrix takes 1/32 + 1/2 of its dense size. The folder's other files (config, tokenizer,
pooling) are copied as they are, and ``sparse.json`` marks the format.

Example:
    >>> save_sparse(Path("out/model"), Path("out/model.sparse"))
    >>> model = load_sparse(Path("out/model.sparse"))
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from domainemb.errors import DataError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

FORMAT = "domainemb-sparse/1"
MARKER = "sparse.json"
SUFFIX = ".sparse.safetensors"
_MASK, _VALUES = "::mask", "::values"


def save_sparse(model_dir: Path, out: Path) -> dict[str, int]:
    """Write the compressed form of the model folder ``model_dir`` into ``out`` (created).

    Returns:
        ``{"dense_bytes": ..., "sparse_bytes": ...}``: the weight files' sizes before and after.
    """
    model_dir, out = Path(model_dir), Path(out)
    out.mkdir(parents=True)
    dense_bytes = sparse_bytes = 0
    converted = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if path.is_dir():
            (out / relative).mkdir(exist_ok=True)
        elif path.name.endswith(".safetensors"):
            target = out / relative.parent / (path.name.removesuffix(".safetensors") + SUFFIX)
            _compress_file(path, target)
            dense_bytes += path.stat().st_size
            sparse_bytes += target.stat().st_size
            converted.append(relative.as_posix())
        else:
            shutil.copy2(path, out / relative)
    (out / MARKER).write_text(json.dumps({"format": FORMAT, "files": converted}, indent=2) + "\n", encoding="utf-8")
    return {"dense_bytes": dense_bytes, "sparse_bytes": sparse_bytes}


def densify(sparse_dir: Path, out: Path) -> Path:
    """Write the plain sentence-transformers folder that ``sparse_dir`` compresses into ``out``."""
    sparse_dir, out = Path(sparse_dir), Path(out)
    marker = sparse_dir / MARKER
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(str(sparse_dir), MARKER, f"not a compressed sparse model: {exc}") from None
    if info.get("format") != FORMAT:
        raise DataError(str(sparse_dir), MARKER, f"unsupported format {info.get('format')!r} (expected {FORMAT})")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(sparse_dir.rglob("*")):
        relative = path.relative_to(sparse_dir)
        if path.is_dir():
            (out / relative).mkdir(exist_ok=True)
        elif path.name.endswith(SUFFIX):
            target = out / relative.parent / (path.name.removesuffix(SUFFIX) + ".safetensors")
            tensors, metadata = read_sparse_file(path)
            save_file(tensors, str(target), metadata=metadata)
        elif path.name != MARKER:
            shutil.copy2(path, out / relative)
    return out


def load_sparse(sparse_dir: Path, device: str | None = None) -> SentenceTransformer:
    """Load a compressed model as a ``SentenceTransformer`` (densified in a temporary folder)."""
    from sentence_transformers import SentenceTransformer

    with tempfile.TemporaryDirectory(prefix="domainemb-sparse-") as tmp:
        folder = densify(sparse_dir, Path(tmp) / "model")
        return SentenceTransformer(str(folder), device=device, local_files_only=True)


def read_sparse_file(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The dense tensors of one ``*.sparse.safetensors`` file, and the original file's metadata."""
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        shapes = json.loads(metadata.pop("domainemb_sparse_shapes", "{}"))
        keys = list(f.keys())
        tensors = {k: f.get_tensor(k) for k in keys if _MASK not in k and _VALUES not in k}
        for name, shape in shapes.items():
            values = f.get_tensor(name + _VALUES)
            numel = int(np.prod(shape)) if shape else 1
            nonzero = torch.from_numpy(np.unpackbits(f.get_tensor(name + _MASK).numpy(), count=numel).astype(bool))
            dense = torch.zeros(numel, dtype=values.dtype)
            dense[nonzero] = values
            tensors[name] = dense.reshape(shape)
    metadata.pop("domainemb_sparse_format", None)
    return tensors, metadata


def _compress_file(path: Path, target: Path) -> None:
    tensors: dict[str, Tensor] = {}
    shapes: dict[str, list[int]] = {}
    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        for name in f.keys():
            tensor = f.get_tensor(name)
            nonzero = tensor != 0
            nnz = int(nonzero.sum())
            bitmask_bytes = (tensor.numel() + 7) // 8
            if bitmask_bytes + nnz * tensor.element_size() < tensor.numel() * tensor.element_size():
                tensors[name + _MASK] = torch.from_numpy(np.packbits(nonzero.reshape(-1).numpy()))
                tensors[name + _VALUES] = tensor[nonzero].contiguous()
                shapes[name] = list(tensor.shape)
            else:
                tensors[name] = tensor.contiguous()
    metadata["domainemb_sparse_format"] = FORMAT
    metadata["domainemb_sparse_shapes"] = json.dumps(shapes)
    save_file(tensors, str(target), metadata=metadata)
