"""Inference backends: ``--backend torch|onnx|onnx-int8|openvino``.

``torch`` runs a sentence-transformers model as it loads. The others run the same model as one
ONNX graph (transformer, pooling, dense and normalize modules inside it), exported once per model
fingerprint with ``torch.onnx`` into ``$DOMAINEMB_CACHE/onnx`` (see
:mod:`domainemb.evaluation.onnx_backend`):

* ``onnx``: the fp32 graph on ONNX Runtime;
* ``onnx-int8``: the graph with int8 weights (ONNX Runtime's dynamic quantization), on ONNX Runtime;
* ``openvino``: the fp32 graph read and compiled by the OpenVINO runtime.

Texts are tokenized by the model's own tokenizer at its own ``max_seq_length``, so every backend
sees the inputs torch sees. A backend changes the vectors (slightly for fp32, more for int8), so
it is part of the model's fingerprint -- the key of result files and of the embedding cache --
and is recorded in each result's provenance. ``torch`` keeps the plain fingerprint, so results
and caches made before backends existed stay valid.

Everything that can be wrong with a backend choice is found before any work: an unknown name
(close names suggested), a runtime that is not installed (the pip extra is named), a model that
cannot be exported (not a transformer: ``glove``, ``bm25``, ``bow``), a ``--devices`` list the
backend cannot use.

Example:
    >>> encoder = load_encoder_with_backend("minilm", parse_backend("onnx"))
    >>> encoder.backend, encoder.fingerprint != load_encoder("minilm").fingerprint
    ('onnx', True)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from domainemb.errors import DomainembError, unknown_name
from domainemb.evaluation.encoders import Encoder, ModelIdentity, SentenceTransformerEncoder, load_encoder


class Backend(StrEnum):
    """How a sentence-transformers model is run."""

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"
    OPENVINO = "openvino"


DEFAULT_BACKEND = Backend.TORCH


@dataclass(frozen=True)
class BackendSpec:
    """What a backend needs.

    Args:
        runtime: The runtime that runs the graph: ``"onnxruntime"`` or ``"openvino"``.
        int8: Whether the graph's weights are quantized to int8 (dynamic quantization).
        modules: The Python modules it imports (export and run).
        extra: The pip extra of domainemb that installs them.
    """

    runtime: str
    int8: bool
    modules: tuple[str, ...]
    extra: str


#: One line per non-torch backend; the runner for each ``runtime`` lives in :mod:`~domainemb.evaluation.onnx_backend`.
BACKENDS: dict[Backend, BackendSpec] = {
    Backend.ONNX: BackendSpec("onnxruntime", False, ("onnx", "onnxruntime"), "onnx"),
    Backend.ONNX_INT8: BackendSpec("onnxruntime", True, ("onnx", "onnxruntime"), "onnx"),
    Backend.OPENVINO: BackendSpec("openvino", False, ("onnx", "openvino"), "openvino"),
}

#: Bumped when the exported graph changes (wrapper, opset, quantization settings): new fingerprints, new exports.
EXPORT_FORMAT = 1

#: Registry names of models that run no transformer and so have no ONNX graph.
_NOT_EXPORTABLE = {
    "glove": "GloVe word vectors (a whitespace tokenizer and a lookup table)",
    "bm25": "a lexical model (bm25s), not a neural network",
    "bow": "a lexical model (TF-IDF bag-of-words), not a neural network",
}


def parse_backend(text: str | Backend) -> Backend:
    """The backend named ``text``.

    Raises:
        UnknownNameError: not a backend name; the closest names are suggested.
    """
    if isinstance(text, Backend):
        return text
    try:
        return Backend(str(text).strip())
    except ValueError:
        raise unknown_name("backend", str(text), [b.value for b in Backend]) from None


def check_backend(backend: str | Backend, devices: Sequence[str] = ()) -> Backend:
    """Check a backend choice before any work: its name, its packages, and ``devices``.

    Non-torch backends encode in this process on the CPU: ``devices`` may be empty or ``("cpu",)``.

    Raises:
        UnknownNameError: an unknown backend name.
        DomainembError: a runtime package is missing (the message names the pip extra), or
            ``devices`` asks for more than this process's CPU.
    """
    backend = parse_backend(backend)
    spec = BACKENDS.get(backend)
    if spec is None:
        return backend
    missing = [m for m in spec.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise DomainembError(
            f"--backend {backend}: {', '.join(missing)} not installed; install it with pip install 'domainemb[{spec.extra}]'"
        )
    if tuple(devices) not in ((), ("cpu",)):
        raise DomainembError(
            f"--backend {backend} encodes in this process on the CPU; --devices {','.join(devices)} needs --backend torch"
        )
    return backend


def check_exportable_name(name: str, backend: Backend) -> None:
    """Refuse, without loading anything, a model name known to have no ONNX graph (glove, bm25, bow).

    A folder whose ``modules.json`` does not start with a transformer is refused too; other names
    are checked once loaded (:func:`with_backend`).
    """
    if backend is Backend.TORCH:
        return
    if name in _NOT_EXPORTABLE:
        raise DomainembError(
            f"model {name!r} cannot be exported to ONNX for --backend {backend}: it is {_NOT_EXPORTABLE[name]}; "
            "use --backend torch"
        )
    modules = Path(name).expanduser() / "modules.json"
    if modules.is_file():
        try:
            first = json.loads(modules.read_text(encoding="utf-8"))[0]["type"]
        except (ValueError, KeyError, IndexError, TypeError):
            return  # loading the folder reports what is wrong with it
        if not str(first).endswith(".Transformer"):
            raise DomainembError(
                f"model {name!r} cannot be exported to ONNX for --backend {backend}: its first module is "
                f"{first}, not a transformers model; use --backend torch"
            )


def backend_fingerprint(fingerprint: str, backend: str | Backend) -> str:
    """The fingerprint of a model run on ``backend``: the torch fingerprint unchanged for torch, else a new hash."""
    backend = parse_backend(backend)
    if backend is Backend.TORCH:
        return fingerprint
    key = {"model": fingerprint, "backend": backend.value, "export_format": EXPORT_FORMAT}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def identity_on(identity: ModelIdentity | Encoder | None, backend: Backend) -> ModelIdentity | Encoder | None:
    """The identity (to find kept results) of a model run on ``backend``, known without exporting it.

    An encoder already on ``backend`` (or any encoder, for torch) is its own identity.
    """
    if identity is None or backend is Backend.TORCH:
        return identity
    if isinstance(identity, Encoder):
        if identity.backend == backend.value:
            return identity
        identity = ModelIdentity(identity.name, identity.model_name, identity.fingerprint)
    return replace(identity, fingerprint=backend_fingerprint(identity.fingerprint, backend))


def with_backend(encoder: Encoder, backend: str | Backend) -> Encoder:
    """``encoder`` run on ``backend``: itself for torch, else an encoder over its exported graph.

    The graph is exported the first time (a few seconds for MiniLM) and reused from the cache after.

    Raises:
        DomainembError: the encoder runs no transformer model (it cannot be exported), or the export fails.
    """
    backend = parse_backend(backend)
    if backend is Backend.TORCH or getattr(encoder, "backend", "") == backend.value:
        return encoder
    if not isinstance(encoder, SentenceTransformerEncoder):
        raise DomainembError(
            f"model {encoder.name!r} cannot be exported to ONNX for --backend {backend}: it runs no "
            "sentence-transformers model; use --backend torch"
        )
    from domainemb.evaluation.onnx_backend import graph_encoder

    return graph_encoder(encoder, backend, BACKENDS[backend])


def load_encoder_with_backend(name: str, backend: str | Backend = DEFAULT_BACKEND) -> Encoder:
    """:func:`~domainemb.evaluation.encoders.load_encoder`, then :func:`with_backend` (names are checked first)."""
    backend = check_backend(backend)
    check_exportable_name(name, backend)
    return with_backend(load_encoder(name), backend)
