"""``prune_report.json``: what one pruning run did and what it cost, typed and serialisable.

Reports (the benchmark tables, the ``domainemb report`` page) read these files only; they never
re-run a model. The file is :meth:`PruneReport.to_dict` with sorted keys; ``format`` names its
version.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domainemb.jsonio import write_json

REPORT = "prune_report.json"
FORMAT = "domainemb-prune-report/1"


@dataclass(frozen=True)
class SuiteScores:
    """Dense and pruned main scores on one suite.

    Attributes:
        benchmark: The suite folder; ``benchmark_checksum`` pins its data.
        dense / pruned: Main score per task.
        dense_mean / pruned_mean: Means over the tasks.
        relative_change_pct: ``100 · (pruned_mean − dense_mean) / dense_mean``.
    """

    benchmark: str
    benchmark_checksum: str
    dense: dict[str, float]
    pruned: dict[str, float]
    dense_mean: float
    pruned_mean: float
    relative_change_pct: float

    @classmethod
    def from_scores(
        cls, benchmark: str, checksum: str, dense: dict[str, float], pruned: dict[str, float]
    ) -> SuiteScores:
        dense_mean = sum(dense.values()) / len(dense)
        pruned_mean = sum(pruned.values()) / len(pruned)
        change = 100.0 * (pruned_mean - dense_mean) / dense_mean if dense_mean else float("nan")
        return cls(benchmark, checksum, dense, pruned, round(dense_mean, 6), round(pruned_mean, 6), round(change, 4))


@dataclass(frozen=True)
class PruneReport:
    """One ``domainemb prune`` run.

    Attributes:
        model: The name given; ``model_fingerprint`` hashes its weights and config.
        domain: Calibration and evaluation domain.
        method: Pruning method; ``variant`` the DAI formula (``None`` unless ``gaprune``).
        structured: Whether whole FFN neurons were removed.
        target_sparsity: The sparsity asked for.
        ranking: ``global`` or ``per-layer``.
        hyperparameters: Every setting of the run.
        per_layer: Per layer, the fraction of FFN weights removed (``up``, ``down``, ``total``).
        ffn_sparsity: Fraction of all FFN weights removed (structured: removed neurons' weights).
        model_sparsity: Fraction of all the model's parameters removed (zeroed or cut out).
        ffn_width: Dense and pruned FFN width (structured), else ``None``.
        calibration: Per side (``domain``, ``general``): pairs, candidates, source and its checksum,
            and which of its stages (``pairs``, ``moments``) came from the stage cache (their time
            is then not in ``seconds``).
        seconds: Wall time by stage (``calibration``, ``scoring``, ``retraining``, ``evaluation``, ``total``).
        scoring_peak_memory_mb: Peak resident memory of the process (CPU) or peak CUDA memory
            allocated during scoring.
        retrain_steps: Optimizer steps of retraining taken.
        retraining: What retraining did (empty for one-shot runs): ``loss`` (``distill`` or
            ``infonce``), the sentence-transformers ``losses`` it trained, ``steps``,
            ``mean_train_loss``; for distillation, its ``texts`` (source, sha256, how many were
            available, trained on, held out, and MarginMSE triples), the pruned model's
            ``heldout_mse_to_dense`` embedding MSE before and after, and ``margin_labels``: who
            labelled the MarginMSE triples (``by``: ``teacher``, with its ``name``, ``kind``,
            ``fingerprint`` and ``forward_texts``, or ``dense model``, with its name and fingerprint;
            ``None`` without ``distill_margins``); for InfoNCE, its ``pairs``.
        size_on_disk: Bytes of the dense input weights, the saved model, and its sparse form.
        export: The shipped ONNX graph (empty unless ``export`` was asked for): its ``format``,
            ``file`` (relative to the run folder), ``bytes`` on disk, the dense model's weights on
            disk (``dense_bytes_on_disk``: its folder's weight files, else its fp32 parameters) and
            ``fraction_of_dense`` (``bytes / dense_bytes_on_disk``).
        suites: ``domain`` and ``general`` :class:`SuiteScores`, when evaluated.
        diagnostics: How close the method lands to magnitude pruning: the fraction of its pruned
            weights that magnitude pruning would also prune, and for GAPrune the mean size of each
            DAI term (Fisher term, ``γ·√|θ|``, ``|s|``).
        seed / device / versions: Reproduction details.
    """

    model: str
    model_fingerprint: str
    domain: str
    method: str
    variant: str | None
    structured: bool
    target_sparsity: float
    ranking: str
    hyperparameters: dict[str, Any]
    per_layer: list[dict[str, float]]
    ffn_sparsity: float
    model_sparsity: float
    ffn_width: dict[str, int] | None
    calibration: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    scoring_peak_memory_mb: float | None
    retrain_steps: int
    size_on_disk: dict[str, int]
    suites: dict[str, SuiteScores] = field(default_factory=dict)
    retraining: dict[str, Any] = field(default_factory=dict)
    diagnostics: dict[str, float] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    seed: int = 42
    device: str = "cpu"
    versions: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``format`` included)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> PruneReport:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ValueError: not a prune report of this format.
            TypeError: a field is missing or unknown.
        """
        found = data.get("format") if isinstance(data, dict) else None
        if found != FORMAT:
            raise ValueError(f"not a prune report (format {found!r}, expected {FORMAT})")
        suites = {name: SuiteScores(**scores) for name, scores in data.get("suites", {}).items()}
        return cls(**{**data, "suites": suites})

    def to_disk(self, folder: Path) -> Path:
        path = Path(folder) / REPORT
        write_json(path, self.to_dict(), sort_keys=True)
        return path

    @classmethod
    def from_disk(cls, path: Path) -> PruneReport:
        """Read a report file (or the report inside a run folder).

        Raises:
            ValueError: not a prune report of this format (or not JSON).
            TypeError: a field is missing or unknown.
        """
        path = Path(path)
        return cls.from_dict(json.loads((path / REPORT if path.is_dir() else path).read_text(encoding="utf-8")))
