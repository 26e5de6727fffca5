"""``CompareConfig``: every setting of one ``domainemb compare`` run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from domainemb.compare.cost import DEFAULT_SAMPLE_TEXTS
from domainemb.evaluation.backends import parse_backend
from domainemb.evaluation.devices import check_device_names
from domainemb.suites import DEFAULT_BENCHMARKS, suite_name
from domainemb.types import Domain, Size, TaskType

#: Lexical baselines scored in every comparison, whatever models the user names.
BASELINES = ("bm25", "bow")


@dataclass(frozen=True)
class CompareConfig:
    """One comparison of models on a domain suite and the general suite.

    Args:
        domain: The domain suite compared with the general suite.
        models: Models to compare (registry names, folders or hub ids); :data:`BASELINES` are added.
        size: Suite size to build (or reuse) when no benchmark folder is given.
        out: Output folder: ``domain/`` and ``general/`` results, ``complexity.json``, ``analysis.json``.
        benchmarks: Folder holding built suites as ``<domain>-<size>``; missing ones are built there.
        domain_benchmark: Use this built domain benchmark instead of ``benchmarks/<domain>-<size>``.
        general_benchmark: Use this built general benchmark instead of ``benchmarks/general-<size>``.
        tasks: Only these tasks (names from either suite); every task when empty.
        task_types: Only tasks of these types; every type when empty.
        seed: Seed of the evaluation, the bootstrap and the complexity samples.
        bootstrap_samples: Bootstrap resamples per interval.
        confidence: Coverage of the intervals.
        batch_size: Texts per forward pass.
        use_cache: Keep and reuse embeddings in the embedding cache.
        overwrite: Re-run tasks already scored.
        complexity_texts: Texts sampled per task for the complexity measures.
        llm_base_url: OpenAI-compatible endpoint for the LLM error rate; with ``llm_model``.
        llm_model: Model name at that endpoint; the LLM error rate is "not computed" without it.
        llm_items: Test items per classification task sent to the LLM.
        devices: Where sentence-transformers models encode (``cpu,cpu``, ``cuda:0,cuda:1``: one worker
            process per device, once per model for both suites); as ``EvaluateConfig.devices``.
        cost_sample_texts: Texts of the domain suite encoded (after one warm-up batch) to measure
            each model's throughput; 0 measures no cost.
        rescore_quantized: Also score each dense model on the domain suite's retrieval and STS
            tasks with int8 and binary vectors, and truncated to its Matryoshka dimensions (from its
            adapt record); needs ``cost_sample_texts`` above 0.
        backend: What runs the models the user names (``torch``, ``onnx``, ``onnx-int8``,
            ``openvino``); as ``EvaluateConfig.backend``. The baselines run as they are.
    """

    domain: Domain
    models: tuple[str, ...]
    size: Size = Size.LITE
    out: Path | None = None
    benchmarks: Path = DEFAULT_BENCHMARKS
    domain_benchmark: Path | None = None
    general_benchmark: Path | None = None
    tasks: tuple[str, ...] = ()
    task_types: tuple[TaskType, ...] = ()
    seed: int = 42
    bootstrap_samples: int = 1000
    confidence: float = 0.95
    batch_size: int = 32
    use_cache: bool = True
    overwrite: bool = False
    complexity_texts: int = 100
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_items: int = 30
    cost_sample_texts: int = DEFAULT_SAMPLE_TEXTS
    rescore_quantized: bool = True
    devices: tuple[str, ...] = ()
    backend: str = "torch"

    def __post_init__(self) -> None:
        check_device_names(self.devices)
        object.__setattr__(self, "backend", parse_backend(self.backend).value)

    @property
    def out_dir(self) -> Path:
        """``out``, or ``work/compare/<domain>-<size>``."""
        return self.out or Path("work") / "compare" / suite_name(self.domain, self.size)

    @property
    def all_models(self) -> tuple[str, ...]:
        """The user's models, then the baselines not already named."""
        return tuple(dict.fromkeys((*self.models, *BASELINES)))
