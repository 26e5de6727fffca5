"""A servable export of a (pruned) model: its ONNX graph shipped inside the sentence-transformers folder.

The one home of the shipped-graph contract: ``domainemb prune --export`` writes it
(:func:`ship_export`), and the graph backends read it (:func:`shipped_graph`).

``domainemb prune --export onnx|onnx-int8`` writes the whole embedding graph (transformer,
pooling, normalize; see :mod:`domainemb.evaluation.onnx_backend`) into the model folder, so the
folder a user ships holds it::

    model/                       the sentence-transformers folder (``SentenceTransformer(path)`` as before)
    model/domainemb-onnx/
        model-int8.onnx          the graph (``model.onnx`` for the fp32 export)
        export.json              what it was exported from: the fingerprint of the folder's torch weights

The folder is not ``onnx/``: sentence-transformers' own ``backend="onnx"`` looks there for a
transformer-only graph (token embeddings out), and ours outputs the sentence embedding.

``--backend onnx``/``onnx-int8``/``openvino`` on a folder runs the shipped graph when
``export.json`` says it was exported from the weights the folder holds now (and the graph file
is the one exported); otherwise the graph is exported into the cache as for any folder. An int8
backend on a folder that ships only the fp32 graph quantizes that graph into the cache.

Structured pruning is what makes the graph smaller and faster; an unstructured mask keeps every
matrix at its dense shape (its zeros are stored and multiplied), so its export saves nothing in
speed, and int8 quantization alone saves what it saves on the dense model.

Example:
    >>> ship_export(Path("work/prune/run/model"), ExportFormat.ONNX_INT8).file
    'domainemb-onnx/model-int8.onnx'
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.errors import DomainembError, unknown_name

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

#: The export folder inside a model folder.
EXPORT_DIR = "domainemb-onnx"
#: Its manifest: one entry per shipped graph.
MANIFEST = "export.json"
MANIFEST_FORMAT = "domainemb-onnx-export/1"


class ExportFormat(StrEnum):
    """What a prune run ships beside the torch weights: nothing, the fp32 graph, or the int8 graph."""

    NONE = "none"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"

    @property
    def int8(self) -> bool:
        return self is ExportFormat.ONNX_INT8

    @property
    def file_name(self) -> str:
        return "model-int8.onnx" if self.int8 else "model.onnx"


def parse_export(value: str | ExportFormat) -> ExportFormat:
    """The export format named ``value``.

    Raises:
        UnknownNameError: not a format; the closest names are suggested.
    """
    try:
        return ExportFormat(str(value).strip())
    except ValueError:
        raise unknown_name("export", str(value), [f.value for f in ExportFormat]) from None


def check_export(value: str | ExportFormat) -> ExportFormat:
    """Check an export choice before any work: its name and the runtime packages it needs.

    Raises:
        UnknownNameError: an unknown format.
        DomainembError: ``onnx``/``onnxruntime`` is not installed (the message names the pip extra).
    """
    fmt = parse_export(value)
    if fmt is ExportFormat.NONE:
        return fmt
    from domainemb.evaluation.backends import check_backend

    try:
        check_backend(fmt.value)
    except DomainembError as exc:
        raise DomainembError(str(exc).replace("--backend", "--export", 1)) from None
    return fmt


@dataclass(frozen=True)
class ShippedGraph:
    """One graph in a model folder's :data:`MANIFEST`.

    Attributes:
        format: ``onnx`` or ``onnx-int8``.
        file: Its path relative to the model folder.
        bytes: Its size on disk.
        sha256: Its content hash.
        weights_fingerprint: :func:`weights_fingerprint` of the folder it was exported from.
        export_format: :data:`domainemb.evaluation.backends.EXPORT_FORMAT` it was made with.
        opset: ONNX opset.
    """

    format: str
    file: str
    bytes: int
    sha256: str
    weights_fingerprint: str
    export_format: int
    opset: int


def ship_export(folder: Path, fmt: ExportFormat | str, model: SentenceTransformer | None = None) -> ShippedGraph:
    """Export the model saved in ``folder`` into ``folder/domainemb-onnx/`` and record it in the manifest.

    Args:
        folder: A saved sentence-transformers folder.
        fmt: ``onnx`` or ``onnx-int8``.
        model: The same model already loaded (saves loading it again); ``folder``'s is loaded otherwise.

    Raises:
        DomainembError: ``fmt`` is ``none`` or unknown, or the model cannot be exported.
    """
    from domainemb.atomic import write_atomic
    from domainemb.domains.fetch import sha256_file
    from domainemb.evaluation.backends import EXPORT_FORMAT
    from domainemb.evaluation.onnx_backend import OPSET, export_onnx

    fmt = parse_export(fmt)
    if fmt is ExportFormat.NONE:
        raise DomainembError("export: nothing to export for 'none'")
    folder = Path(folder)
    fingerprint = weights_fingerprint(folder)  # before the export folder exists: the torch weights only
    graph = folder / EXPORT_DIR / fmt.file_name
    graph.parent.mkdir(parents=True, exist_ok=True)  # export_onnx writes the int8 export's fp32 step beside it
    export_onnx(model if model is not None else folder, graph, int8=fmt.int8, opset=OPSET)
    shipped = ShippedGraph(
        format=fmt.value,
        file=graph.relative_to(folder).as_posix(),
        bytes=graph.stat().st_size,
        sha256=sha256_file(graph),
        weights_fingerprint=fingerprint,
        export_format=EXPORT_FORMAT,
        opset=OPSET,
    )
    manifest = _read_manifest(folder) or {"format": MANIFEST_FORMAT, "graphs": {}}
    manifest["graphs"][fmt.value] = asdict(shipped)
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomic(folder / EXPORT_DIR / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    log.info("shipped the %s graph in %s (%d bytes)", fmt.value, graph, shipped.bytes)
    return shipped


def shipped_graph(folder: Path | None, *, int8: bool) -> Path | None:
    """The graph shipped in ``folder`` that serves an fp32 (``int8=False``) or int8 backend, if it still matches.

    A graph matches when it was exported with today's export format from the weights the folder
    holds now, and its file is the one exported. Anything else (no manifest, another format,
    changed weights, a replaced graph) returns ``None``: the caller exports into the cache.
    """
    if folder is None:
        return None
    folder = Path(folder)
    manifest = _read_manifest(folder)
    entry = (manifest or {}).get("graphs", {}).get(ExportFormat.ONNX_INT8 if int8 else ExportFormat.ONNX)
    if not isinstance(entry, dict):
        return None
    from domainemb.domains.fetch import sha256_file
    from domainemb.evaluation.backends import EXPORT_FORMAT

    graph = folder / str(entry.get("file", ""))
    why = None
    if entry.get("export_format") != EXPORT_FORMAT:
        why = f"export format {entry.get('export_format')}, now {EXPORT_FORMAT}"
    elif not graph.is_file() or sha256_file(graph) != entry.get("sha256"):
        why = f"{graph.name} is missing or not the file exported"
    elif weights_fingerprint(folder) != entry.get("weights_fingerprint"):
        why = "the weights changed since the export"
    if why:
        log.warning("%s: not using the shipped graph (%s); exporting into the cache", folder, why)
        return None
    log.info("using the graph shipped in %s", graph)
    return graph


def weights_fingerprint(folder: Path) -> str:
    """sha256 over a model folder's files outside :data:`EXPORT_DIR` (README and hidden files left out).

    What decides the torch model's outputs, so an export records what it was made from; remembered
    like folder fingerprints (:mod:`domainemb.evaluation.fingerprints`).
    """
    from domainemb.domains.fetch import sha256_file
    from domainemb.evaluation.encoders import _NOT_WEIGHTS_OR_CONFIG
    from domainemb.evaluation.fingerprints import remembered

    folder = Path(folder)
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name not in _NOT_WEIGHTS_OR_CONFIG
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.relative_to(folder).parts[0] != EXPORT_DIR
    )

    def compute() -> str:
        digest = hashlib.sha256()
        for file in files:
            digest.update(file.relative_to(folder).as_posix().encode())
            digest.update(sha256_file(file).encode())
        return digest.hexdigest()

    return remembered(files, folder, {"weights_fingerprint": EXPORT_DIR}, compute)


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / EXPORT_DIR / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s: unreadable; ignored", path)
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("graphs"), dict):
        log.warning("%s: not a %s manifest; ignored", path, MANIFEST_FORMAT)
        return None
    return data
