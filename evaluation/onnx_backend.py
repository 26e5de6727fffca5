"""Export a sentence-transformers model to one ONNX graph, and encode with it behind the encoder seam.

The graph maps the tokenizer's outputs (``input_ids``, ``attention_mask`` and, where the model
takes them, ``token_type_ids``; batch and sequence axes dynamic) to the ``sentence_embedding``
output, so every module after the transformer (pooling, dense, normalize) is inside it. It is
exported with ``torch.onnx.export`` (the TorchScript exporter); int8 graphs are made from the
fp32 one with ONNX Runtime's ``quantize_dynamic`` (int8 weights, activations quantized per batch).

Exports are kept in ``$DOMAINEMB_CACHE/onnx/<fingerprint>/`` (one folder per model fingerprint),
each file written under a temporary name and renamed into place, so a killed export leaves
nothing a later run would use, and a second run reuses the file.

Encoding keeps sentence-transformers' own ``encode`` (length sorting, batching, prompts,
normalisation, mteb's wrapper): the model's first module is replaced by :class:`GraphModule`,
which tokenizes with the original transformer module and runs the graph.

Importing this module imports torch and sentence-transformers; :mod:`domainemb.evaluation.backends`
imports it only when a non-torch backend is asked for.

Example:
    >>> export_onnx(Path("work/adapt/model"), Path("work/model-int8.onnx"), int8=True)
    PosixPath('work/model-int8.onnx')
"""

from __future__ import annotations

import logging
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import InputModule, Transformer

from domainemb.atomic import write_atomic
from domainemb.errors import DomainembError
from domainemb.evaluation.encoders import SentenceTransformerEncoder

if TYPE_CHECKING:
    from domainemb.evaluation.backends import Backend, BackendSpec

log = logging.getLogger(__name__)

#: ONNX opset of the exported graphs (ONNX Runtime 1.17+ and OpenVINO 2023+ read it).
OPSET = 17
#: The graph's inputs, in the order the wrapper takes them; a model uses those its tokenizer returns.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "sentence_embedding"
_SAMPLE_TEXTS = ("a short text", "a somewhat longer text, to give the exporter two lengths to pad")


# ----------------------------------------------------------------------------- export
def export_onnx(
    model: SentenceTransformer | Path | str, path: Path | str, *, int8: bool = False, opset: int = OPSET
) -> Path:
    """Export a sentence-transformers model to one ONNX file whose output is the sentence embedding.

    Args:
        model: A loaded model or a sentence-transformers folder. Its first module must be a
            transformers model (``sentence_transformers.base.modules.Transformer``).
        path: The ``.onnx`` file to write (replaced atomically; parents are created).
        int8: Quantize the weights to int8 (ONNX Runtime dynamic quantization) after exporting.
        opset: ONNX opset.

    Returns:
        ``path``.

    Raises:
        DomainembError: the model is not a transformer model, or the exporter fails on it.
    """
    path = Path(path)
    model = _loaded(model)
    if not int8:
        write_atomic(path, lambda tmp: _export_fp32(model, tmp, opset))
        return path
    path.parent.mkdir(parents=True, exist_ok=True)  # the fp32 step is written beside the target
    fp32 = path.with_name(f".{path.stem}.fp32-{os.getpid()}.onnx")
    try:
        _export_fp32(model, fp32, opset)
        write_atomic(path, lambda tmp: quantize_int8(fp32, tmp))
    finally:
        fp32.unlink(missing_ok=True)
    return path


def quantize_int8(fp32: Path, out: Path) -> None:
    """Write ``fp32``'s graph with int8 weights to ``out`` (``onnxruntime.quantization.quantize_dynamic``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().disabled, was = True, logging.getLogger().disabled  # it logs a pre-processing hint on root
    try:
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().disabled = was


def _export_fp32(model: SentenceTransformer, path: Path, opset: int) -> None:
    check_exportable(model)
    features = model.preprocess(list(_SAMPLE_TEXTS))
    names = [n for n in INPUT_NAMES if n in features]
    wrapper = _EmbeddingGraph(model, names).eval()
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {OUTPUT_NAME: {0: "batch"}}
    device = model.device
    model.to("cpu")
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
            torch.onnx.export(
                wrapper,
                tuple(features[n].cpu() for n in names),
                str(path),
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types on an unsupported operator
        raise DomainembError(f"{_model_label(model)}: cannot be exported to ONNX: {_first_line(exc)}") from None
    finally:
        model.to(device)
    log.info("exported %s to %s", _model_label(model), path)


class _EmbeddingGraph(torch.nn.Module):
    """input_ids, attention_mask[, token_type_ids] -> sentence_embedding, through every module of the model."""

    def __init__(self, model: SentenceTransformer, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        features = dict(zip(self.names, inputs, strict=True))
        return self.model(features)[OUTPUT_NAME]  # (batch, dim)


def check_exportable(model: SentenceTransformer) -> None:
    """Raise :class:`DomainembError` unless the model starts with a transformers model (what the graph wraps)."""
    first = model[0] if len(model) else None
    if not isinstance(first, Transformer):
        raise DomainembError(
            f"{_model_label(model)}: cannot be exported to ONNX: its first module is "
            f"{type(first).__name__}, not a transformers model; use --backend torch"
        )


def _loaded(model: SentenceTransformer | Path | str) -> SentenceTransformer:
    if not isinstance(model, (str, Path)):
        return model
    from domainemb.evaluation.encoders import sentence_transformer_from_folder

    return sentence_transformer_from_folder(Path(model), name=str(model)).model


# ----------------------------------------------------------------------------- the cache
def export_root() -> Path:
    """Where exported graphs are kept: ``$DOMAINEMB_CACHE/onnx``."""
    root = os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb"
    return Path(root).expanduser() / "onnx"


def cached_export(
    model: SentenceTransformer, fingerprint: str, *, int8: bool = False, fp32_graph: Path | None = None
) -> Path:
    """The model's exported graph in the cache, exported the first time only.

    Args:
        model: The loaded model.
        fingerprint: Its (torch) fingerprint; the cache folder is named by it.
        int8: The int8 graph (made from the cached fp32 graph, which is exported first when missing).
        fp32_graph: An fp32 graph of the same weights that exists already (the one a prune run shipped
            in the model folder): the int8 graph is quantized from it, and nothing is exported.
    """
    from domainemb.evaluation.backends import EXPORT_FORMAT

    folder = export_root() / f"{fingerprint[:32]}-v{EXPORT_FORMAT}"
    fp32 = folder / "model.onnx"
    if int8 and fp32_graph is not None and not fp32.is_file():
        fp32 = fp32_graph
    elif not fp32.is_file():
        log.info("exporting %s to ONNX (once per model) into %s", _model_label(model), folder)
        export_onnx(model, fp32)
    if not int8:
        return fp32
    quantized = folder / "model-int8.onnx"
    if not quantized.is_file():
        write_atomic(quantized, lambda tmp: quantize_int8(fp32, tmp))
    return quantized


# ----------------------------------------------------------------------------- running a graph
class GraphRunner(ABC):
    """Runs an exported graph: token arrays in, ``(batch, dim)`` float32 embeddings out.

    Attributes:
        input_names: The graph's inputs (a subset of :data:`INPUT_NAMES`).
    """

    input_names: tuple[str, ...]

    @abstractmethod
    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """Embeddings of one batch; ``feeds`` holds int64 arrays ``(batch, sequence)`` by input name."""

    @property
    def threads(self) -> int | None:
        """Threads it computes with, where its runtime says (``compare`` records them beside a throughput)."""
        return None


class OnnxRuntimeRunner(GraphRunner):
    """ONNX Runtime on the CPU."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are noise here
        # Idle worker threads would otherwise spin for a while after each batch, taking the CPU from
        # what runs between batches (mteb's evaluators, the tokenizer): on 2 cores clustering ran 4x slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self.session.get_inputs())

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], feeds)[0]

    @property
    def threads(self) -> int | None:
        return self.session.get_session_options().intra_op_num_threads or None  # 0: its default, not a count


class OpenVinoRunner(GraphRunner):
    """The OpenVINO runtime on the CPU, reading the same ONNX file."""

    def __init__(self, path: Path) -> None:
        import openvino as ov

        core = ov.Core()
        # f32 throughout: on CPUs with bf16 units OpenVINO would otherwise compute in bf16 (cosines move by ~1e-4)
        config = {"INFERENCE_PRECISION_HINT": "f32"}
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.input_names = tuple(port.get_any_name() for port in self.compiled.inputs)
        self._output = self.compiled.output(0)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.compiled(feeds)[self._output])

    @property
    def threads(self) -> int | None:
        return int(self.compiled.get_property("INFERENCE_NUM_THREADS")) or None


RUNNERS: dict[str, type[GraphRunner]] = {"onnxruntime": OnnxRuntimeRunner, "openvino": OpenVinoRunner}


def graph_model(model: SentenceTransformer, runner: GraphRunner) -> SentenceTransformer:
    """A sentence-transformers model that tokenizes as ``model`` does and runs ``runner``'s graph.

    Prompts, the similarity function and the embedding dimension are ``model``'s.
    """
    dimension = model.get_embedding_dimension()
    graph = SentenceTransformer(
        modules=[GraphModule(model[0], runner, dimension)],
        device="cpu",
        prompts=dict(model.prompts),
        default_prompt_name=model.default_prompt_name,
        similarity_fn_name=model.similarity_fn_name,
    )
    graph.model_card_data = model.model_card_data
    return graph


class GraphModule(InputModule):
    """The first and only module of a :func:`graph_model`: tokenize with the original transformer module, run the graph.

    Args:
        transformer: The original model's transformer module (its tokenizer and ``max_seq_length``).
        runner: Runs the graph.
        dimension: The embedding dimension.
    """

    def __init__(self, transformer: Transformer, runner: GraphRunner, dimension: int | None) -> None:
        super().__init__()
        self.__dict__["transformer"] = transformer  # not a submodule: its torch weights are not run
        self.runner = runner
        self.dimension = dimension

    @property
    def modalities(self) -> list[str]:
        return self.transformer.modalities

    @property
    def tokenizer(self) -> Any:
        return self.transformer.tokenizer

    @property
    def max_seq_length(self) -> int:
        return self.transformer.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.transformer.max_seq_length = value

    def preprocess(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.transformer.preprocess(inputs, prompt=prompt, **kwargs)

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        feeds = {n: features[n].cpu().numpy().astype(np.int64, copy=False) for n in self.runner.input_names}
        embedding = self.runner.run(feeds)  # (batch, dim)
        return {**features, OUTPUT_NAME: torch.from_numpy(np.ascontiguousarray(embedding, dtype=np.float32))}

    def get_embedding_dimension(self) -> int | None:
        return self.dimension

    def get_sentence_embedding_dimension(self) -> int | None:
        return self.dimension

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a graph model is not saved; save the original model")


# ----------------------------------------------------------------------------- the encoder
def graph_encoder(encoder: SentenceTransformerEncoder, backend: Backend, spec: BackendSpec) -> GraphEncoder:
    """``encoder``'s model on ``backend``: exported (or found in the cache), then loaded by its runtime."""
    from domainemb.evaluation.backends import backend_fingerprint
    from domainemb.evaluation.shipped_graph import shipped_graph

    check_exportable(encoder.model)
    # A graph shipped in the model folder (``domainemb prune --export``) and exported from its weights is used as
    # is; an int8 backend on a folder that ships only the fp32 graph quantizes that one into the cache.
    path = shipped_graph(encoder.folder, int8=spec.int8)
    if path is None:
        shipped_fp32 = shipped_graph(encoder.folder, int8=False) if spec.int8 else None
        path = cached_export(encoder.model, encoder.fingerprint, int8=spec.int8, fp32_graph=shipped_fp32)
    try:
        runner = RUNNERS[spec.runtime](path)
    except Exception as exc:  # a runtime that rejects the graph
        raise DomainembError(f"{encoder.name}: {spec.runtime} cannot load {path}: {_first_line(exc)}") from None
    return GraphEncoder(
        name=encoder.name,
        model_name=encoder.model_name,
        model=graph_model(encoder.model, runner),
        fingerprint=backend_fingerprint(encoder.fingerprint, backend),
        folder=encoder.folder,
        backend=backend.value,
        graph=path,
        torch_fingerprint=encoder.fingerprint,
        parameter_count=sum(p.numel() for p in encoder.model.parameters()),
    )


class GraphEncoder(SentenceTransformerEncoder):
    """A sentence-transformers model run as an exported graph (``--backend onnx``, ``onnx-int8``, ``openvino``).

    It is a :class:`~domainemb.evaluation.encoders.SentenceTransformerEncoder` whose ``model``
    runs the graph, so mteb scores it through the same wrapper as the torch model.

    Args:
        backend: The backend's name (recorded in each result's provenance).
        graph: The ONNX file it runs (its size is the model's size on disk in ``compare``'s cost table).
        torch_fingerprint: The fingerprint of the model on torch (``fingerprint`` is the backend's).
        parameter_count: The torch model's parameters (the graph model itself has no torch parameters).
    """

    def __init__(
        self, *args: Any, backend: str, graph: Path, torch_fingerprint: str, parameter_count: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.backend = backend
        self.graph = graph
        self.torch_fingerprint = torch_fingerprint
        self.parameter_count = parameter_count

    @property
    def devices(self) -> tuple[str, ...]:
        return ("cpu",)

    @contextmanager
    def encoding_on(self, devices: Sequence[str]) -> Iterator[None]:
        if tuple(devices) not in ((), ("cpu",)):
            raise DomainembError(
                f"--backend {self.backend} encodes in this process on the CPU; --devices {','.join(devices)} needs --backend torch"
            )
        yield

    def pool(self) -> None:
        return None


def _model_label(model: Any) -> str:
    path = getattr(model, "model_card_data", None)
    name = getattr(path, "base_model", None) or getattr(model, "_model_config", {}).get("name")
    return str(name or type(model).__name__)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
