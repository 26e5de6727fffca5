"""``PruneConfig``: every setting of one ``domainemb prune`` run, validated before anything runs.

The command line names the run (model, domain, method, sparsity, output folder); a YAML file may
set any other setting. Unknown keys and impossible values are errors, never silently ignored::

    # prune.yaml
    variant: normalized
    alpha: 0.2
    domain_calibration: 2000
    ranking: per-layer
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.errors import DomainembError, unknown_name
from domainemb.evaluation.shipped_graph import ExportFormat
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.types import Domain, Size
from domainemb.yamlconfig import plain, read_settings

if TYPE_CHECKING:
    from domainemb.prune.methods import PruneMethod, ScoringSettings


class DaiVariant(StrEnum):
    """Which DAI formula GAPrune uses.

    ``paper``: exactly the published formula on raw fp32 statistics.
    ``normalized``: each term standardised per tensor (zero mean, unit variance) before combining.
    ``reference``: what the authors' code computes (yixuantt/GAPrune, ``gaprune/model/SparseModel.py``,
    ``compute_dai_importance``): a softplus of the Fisher term times a clamped alignment factor plus
    ``γ·√|θ|``, on Fisher over micro-batches of 8 and alignment of unit-normalised gradients.
    """

    PAPER = "paper"
    NORMALIZED = "normalized"
    REFERENCE = "reference"


class RetrainLoss(StrEnum):
    """What retraining after pruning optimises.

    ``distill``: the pruned model learns to reproduce the dense model's embeddings of domain text
    (MSE on embeddings; see :mod:`domainemb.prune.distill`). It needs no labels.
    ``infonce``: MultipleNegativesRankingLoss on the domain calibration pairs (in-batch and one
    mined hard negative).
    """

    DISTILL = "distill"
    INFONCE = "infonce"


class Ranking(StrEnum):
    """Where the pruning threshold is drawn: one over all FFN weights, or one per FFN matrix."""

    GLOBAL = "global"
    PER_LAYER = "per-layer"


#: Fields that name the run; they come from the command line, not from the YAML file.
RUN_FIELDS = frozenset({"model", "domain", "method", "sparsity", "out", "structured", "retrain_steps", "pairs"})


@dataclass(frozen=True)
class PruneConfig:
    """One pruning run. Defaults follow the GAPrune paper where it is specific.

    Args:
        model: Model to prune: a registry name (``minilm``, ``mpnet``), a sentence-transformers folder or a hub id.
        domain: The domain whose data calibrate the scores and whose suite measures the loss.
        method: How weights are scored: the name of a method in :data:`domainemb.prune.methods.METHODS`
            (``gaprune``, ``magnitude``, ``fisher-domain``, ``fisher-general``, ``random``).
        sparsity: Fraction of FFN weights (or, with ``structured``, FFN neurons) removed, in (0, 1).
        out: Output folder: ``model/``, ``model.sparse/``, ``prune_report.json``, ``calibration/``, ``results/``.
        structured: Remove whole FFN neurons (the matrices shrink) instead of single weights.
        retrain_steps: Optimizer steps of retraining after pruning (see ``retrain_loss``); 0 for one-shot.
        pairs: Domain pairs written by ``domainemb synth``; ``None`` derives them from the domain
            benchmark's train splits.
        variant: DAI formula of ``gaprune`` (see :class:`DaiVariant`).
        alpha: Weight of the gradient alignment in DAI (paper: 0.2).
        beta: Weight of the general Fisher subtracted from the domain Fisher (paper: 1.0).
        gamma: Weight of ``√|θ|`` in DAI (paper: 0.5).
        ranking: One global threshold over every FFN weight, or one per FFN matrix (unstructured only:
            structured pruning removes the same number of neurons from every layer).
        domain_calibration: Domain pairs chosen by k-means coverage (paper: 5000).
        general_calibration: General pairs chosen by k-means coverage (paper: 5000).
        candidate_pool: At most this many candidate pairs per set are embedded for the k-means choice.
        min_calibration_pairs: Fewer available pairs than this is an error.
        batch_size: Pairs per gradient batch when scoring and retraining (in-batch negatives).
        max_seq_length: Tokens per text when scoring and retraining.
        scale: InfoNCE similarity scale (1 / temperature).
        learning_rate: Peak learning rate of retraining.
        retrain_loss: ``distill`` (default): MSE between the pruned model's and the dense model's
            embeddings of domain text; ``infonce``: MultipleNegativesRankingLoss on the domain
            calibration pairs (see :class:`RetrainLoss`).
        distill_texts: A corpus folder whose passages distillation trains on: what ``domainemb
            export-corpus`` writes, or any folder ``domainemb synth --corpus`` reads (documents are
            cut into chunks of ``max_seq_length`` words). ``None``: the texts of the domain calibration
            pairs (queries, positives and negatives).
        distill_max_texts: At most this many distillation texts (a seeded choice); the dense model
            encodes each once (through the embedding cache).
        distill_margins: Also train MarginMSE on the domain calibration pairs' (query, positive,
            negative) triples, the margins ``q·p − q·n`` computed from the dense model's embeddings
            (from ``teacher``'s scores when one is given).
        teacher: A stronger model that labels the MarginMSE triples instead of the dense model: any
            ``--teacher`` value :func:`domainemb.synth.teacher.load_teacher` accepts (``mpnet``, a
            bi-encoder or ``CrossEncoder`` folder, a hub id, ``hybrid:MODEL@W``); the target margins
            are its ``score(q, p) − score(q, n)``. Distillation retraining only; it turns
            ``distill_margins`` on. The MSE on embeddings keeps the dense model as its target (the
            dimensions must match). ``None`` (or ``none``): the dense model labels the margins.
        retrain_distinct_groups: Retraining batches never hold two pairs of one group (for pairs
            made from train splits, the same task and label; for synth pairs, the same document),
            so no in-batch negative is a same-label text. Off: only no text twice per batch.
        seed: Seed of the k-means choice, the random method and retraining.
        evaluate: Score dense and pruned model on the domain and general suites at the end.
        size: Which build of the suites (``lite`` or ``full``) to calibrate and score on.
        benchmarks: Where built suites are looked up (``DOMAIN-SIZE``) and built when absent.
        domain_benchmark: A specific domain benchmark folder (overrides ``benchmarks``).
        general_benchmark: A specific general benchmark folder (overrides ``benchmarks``).
        domain_tasks: Only these domain tasks are scored; all when empty.
        general_tasks: Only these general tasks are scored; all when empty.
        eval_batch_size: Texts per forward pass when scoring on the suites.
        dense_results: A folder where the dense model's suite scores are kept and reused by later
            runs (the evaluation engine reuses a score only for the same model fingerprint, task
            data and seed, scored by the installed mteb); ``None`` scores the dense model inside
            each run's folder.
        stage_cache: A folder where the chosen calibration pairs and the gradient moments are kept,
            keyed by everything that decides them, and reused by later runs: other methods and
            variants, retrained and structured runs, the general side in every domain, or the
            same run after an interruption (see :mod:`domainemb.prune.stage_cache`). ``None``
            keeps nothing. The moments take two fp32 copies of the FFN weights per side.
        cache_pruned: Also keep the pruned model's embeddings in the embedding cache, keyed by its
            weights' fingerprint, so that a rerun, or an identical pruned model (``magnitude`` and
            ``random`` prune the same weights whatever the domain), is not encoded twice. Off by
            default: one-off pruned models would only grow the cache.
        device: Torch device for scoring and retraining (``cpu``, ``cuda``); empty picks CUDA when present.
        export: Ship the pruned model's ONNX graph in ``model/domainemb-onnx/``: ``onnx`` (fp32) or
            ``onnx-int8`` (int8 weights, ONNX Runtime dynamic quantization); ``none`` ships nothing
            (see :mod:`domainemb.evaluation.shipped_graph`). ``--backend onnx``/``onnx-int8`` then run it as shipped.
    """

    model: str
    domain: Domain
    method: str
    sparsity: float
    out: Path
    structured: bool = False
    retrain_steps: int = 0
    pairs: Path | None = None

    variant: DaiVariant = DaiVariant.PAPER
    alpha: float = 0.2
    beta: float = 1.0
    gamma: float = 0.5
    ranking: Ranking = Ranking.GLOBAL
    domain_calibration: int = 1000
    general_calibration: int = 1000
    candidate_pool: int = 20_000
    min_calibration_pairs: int = 64
    batch_size: int = 16
    max_seq_length: int = 128
    scale: float = 20.0
    learning_rate: float = 2e-5
    retrain_distinct_groups: bool = True
    retrain_loss: RetrainLoss = RetrainLoss.DISTILL
    distill_texts: Path | None = None
    distill_max_texts: int = 20_000
    distill_margins: bool = False
    teacher: str | None = None
    seed: int = 42

    evaluate: bool = True
    size: Size = Size.LITE
    benchmarks: Path = DEFAULT_BENCHMARKS
    domain_benchmark: Path | None = None
    general_benchmark: Path | None = None
    domain_tasks: tuple[str, ...] = ()
    general_tasks: tuple[str, ...] = ()
    eval_batch_size: int = 32
    dense_results: Path | None = None
    stage_cache: Path | None = None
    cache_pruned: bool = False
    device: str = ""
    export: ExportFormat = ExportFormat.NONE

    def __post_init__(self) -> None:
        self._set_member("domain", Domain)
        # Not an enum: any method in the registry, a miss names the closest ones.
        object.__setattr__(self, "method", _method(str(self.method)).name)
        for name, enum in (
            ("variant", DaiVariant),
            ("ranking", Ranking),
            ("size", Size),
            ("retrain_loss", RetrainLoss),
            ("export", ExportFormat),
        ):
            self._set_member(name, enum)
        if self.domain is Domain.GENERAL:
            raise DomainembError(
                "cannot prune for the general domain: the general suite is the reference for forgetting"
            )
        self._set_teacher()
        checks = [
            (0 < self.sparsity < 1, f"sparsity must be in (0, 1), got {self.sparsity}"),
            (self.retrain_steps >= 0, "retrain_steps must be >= 0"),
            (self.beta >= 0 and self.gamma >= 0, "beta and gamma must be >= 0"),
            (0 <= self.alpha <= 1, "alpha must be in [0, 1] (so that 1 + alpha·s stays >= 0)"),
            (self.domain_calibration >= 1 and self.general_calibration >= 1, "calibration sizes must be >= 1"),
            (
                self.candidate_pool >= max(self.domain_calibration, self.general_calibration),
                "candidate_pool must be >= the calibration sizes",
            ),
            (self.min_calibration_pairs >= 2, "min_calibration_pairs must be >= 2"),
            (self.batch_size >= 2, "batch_size must be >= 2 (the other pairs of a batch are the negatives)"),
            (self.max_seq_length >= 8, "max_seq_length must be >= 8"),
            (self.scale > 0, "scale must be > 0"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.distill_max_texts >= 2, "distill_max_texts must be >= 2"),
            (
                self.retrain_loss is RetrainLoss.DISTILL or (self.distill_texts is None and not self.distill_margins),
                "distill_texts and distill_margins apply to retrain_loss: distill only",
            ),
            (self.seed >= 0, "seed must be >= 0"),
            (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise DomainembError(f"prune config: {message}")
        for f in fields(self):  # infinity passes every bound above (NaN fails them, with their own message)
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise DomainembError(f"prune config: {f.name} must be a finite number, got {value}")

    def _set_teacher(self) -> None:
        """``none`` is no teacher; a teacher is for distillation retraining only, and labels its margin triples."""
        if self.teacher is None:
            return
        spec = str(self.teacher).strip()
        if not spec:
            raise DomainembError("prune config: teacher is empty; give a model (mpnet, a folder, hybrid:MODEL) or none")
        if spec.lower() == "none":
            object.__setattr__(self, "teacher", None)
            return
        if self.retrain_loss is not RetrainLoss.DISTILL:
            raise DomainembError(
                f"prune config: teacher {spec} is used only by distillation retraining, not by retrain_loss: "
                f"{self.retrain_loss}"
            )
        if not self.retrain_steps:
            raise DomainembError(
                f"prune config: teacher {spec} is used only by distillation retraining; give --retrain-steps N > 0"
            )
        object.__setattr__(self, "teacher", spec)
        object.__setattr__(self, "distill_margins", True)  # the teacher's margins are what it is for

    def _set_member(self, name: str, enum: type[StrEnum]) -> None:
        value = getattr(self, name)
        if value not in {m.value for m in enum}:
            raise unknown_name(f"prune {name}", str(value), [m.value for m in enum])
        object.__setattr__(self, name, enum(value))

    @classmethod
    def from_yaml(cls, path: Path | None, **run: Any) -> PruneConfig:
        """Build a config from the command line's run fields and an optional YAML file.

        Args:
            path: A YAML mapping of settings, or ``None`` for the defaults.
            **run: The fields in :data:`RUN_FIELDS`, and any other setting the command line gave
                (``teacher``), which overrides the file's.

        Raises:
            DomainembError: an unreadable file, an unknown key, a value of the wrong type or an
                impossible value, naming the key.
        """
        settings = read_yaml(path) if path is not None else {}
        merged = {**settings, **run}  # a setting given on the command line too (``teacher``) wins
        teacher = merged.get("teacher")
        if settings.get("distill_margins") is False and teacher and str(teacher).strip().lower() != "none":
            raise DomainembError(
                f"{path}: distill_margins: false, but teacher {str(teacher).strip()} labels the margin triples; "
                "drop one of them"
            )
        return cls(**merged)

    def scoring_method(self) -> PruneMethod:
        """The registered method :attr:`method` names."""
        return _method(self.method)

    def scoring_settings(self) -> ScoringSettings:
        """The settings the method's scores read (DAI variant and weights, seed)."""
        from domainemb.prune.methods import ScoringSettings

        return ScoringSettings(variant=self.variant, alpha=self.alpha, beta=self.beta, gamma=self.gamma, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, JSON-ready (for the report)."""
        return {k: plain(v) for k, v in asdict(self).items()}


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and type-check a YAML file of :class:`PruneConfig` settings."""
    return read_settings(path, PruneConfig, RUN_FIELDS, "prune")


def _method(name: str) -> PruneMethod:
    # Imported here: the methods read this module's vocabularies (DaiVariant).
    from domainemb.prune.methods import get_method

    return get_method(name)
