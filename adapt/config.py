"""``AdaptConfig``: every setting of one ``domainemb adapt`` run, validated before anything runs.

The command line names the run (base model, pairs, domain, output folder); a YAML file may set
any hyper-parameter. Unknown keys and impossible values are errors, never silently ignored::

    # adapt.yaml
    loss: cached-mnrl
    batch_size: 256
    mini_batch_size: 32
    learning_rate: 3.0e-5
    matryoshka_dims: [384, 256, 128, 64]
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from domainemb.errors import DomainembError
from domainemb.suites import DEFAULT_BENCHMARKS
from domainemb.types import Domain, Size
from domainemb.yamlconfig import plain, read_settings


class LossName(StrEnum):
    """The losses ``adapt`` trains with (:mod:`domainemb.adapt.losses` builds them).

    ``mnrl``: MultipleNegativesRankingLoss (in-batch negatives plus the pairs' mined hard negatives).
    ``cached-mnrl``: the same objective computed with GradCache in mini-batches, so a large batch
    (many in-batch negatives) fits in the memory of a small one.
    ``margin-mse``: MarginMSELoss on the teacher margins in the pairs file (GPL): the student's
    ``sim(q, pos) - sim(q, neg_i)`` regressed on the teacher's, for the first ``hard_negatives`` negatives.
    ``mnrl+margin-mse``: both on the same batch, ``mnrl + margin_mse_weight * margin-mse``; pairs
    without margins train on MNRL alone.
    ``distill-kl``: in-batch score distillation: KL(teacher || student) between the softmaxed
    query x passage similarity matrices of the whole batch, the teacher (``teacher``) a bi-encoder.
    ``mnrl+distill-kl``: ``mnrl + distill_kl_weight * distill-kl`` on the same batch.
    """

    MNRL = "mnrl"
    CACHED_MNRL = "cached-mnrl"
    MARGIN_MSE = "margin-mse"
    MNRL_MARGIN_MSE = "mnrl+margin-mse"
    DISTILL_KL = "distill-kl"
    MNRL_DISTILL_KL = "mnrl+distill-kl"

    @property
    def uses_margins(self) -> bool:
        """Whether the loss trains on the pairs' teacher margins."""
        return self in (LossName.MARGIN_MSE, LossName.MNRL_MARGIN_MSE)

    @property
    def uses_teacher(self) -> bool:
        """Whether the loss distils a bi-encoder teacher's in-batch similarities (``teacher``)."""
        return self in (LossName.DISTILL_KL, LossName.MNRL_DISTILL_KL)


#: Losses MatryoshkaLoss can wrap: the combined ones report their parts separately, and the
#: distillation labels are teacher embeddings that Matryoshka truncation would cut.
MATRYOSHKA_LOSSES = frozenset({LossName.MNRL, LossName.CACHED_MNRL, LossName.MARGIN_MSE})

#: Fields that name the run; they come from the command line, not from the YAML file.
RUN_FIELDS = frozenset({"base", "pairs", "domain", "out", "resume"})
#: Fields that only decide how the result is scored or kept; a resumed run may change them.
EVALUATION_FIELDS = frozenset(
    {
        "evaluate",
        "size",
        "benchmarks",
        "domain_benchmark",
        "general_benchmark",
        "domain_tasks",
        "general_tasks",
        "bootstrap_samples",
        "keep_checkpoints",
        "backend",
    }
)


@dataclass(frozen=True)
class AdaptConfig:
    """One adaptation run. Defaults suit a small model (MiniLM) on a few CPU cores.

    Args:
        base: Base model: a registry name (``minilm``, ``mpnet``), a sentence-transformers folder or a hub id.
        pairs: Training pairs written by ``domainemb synth`` (JSONL).
        domain: The domain whose suite measures the gain.
        out: Output folder: ``model/``, ``checkpoints/``, ``results/``, ``comparison.json``, ``adapt.json``.
        resume: Continue an interrupted run in ``out`` from its last checkpoint.
        loss: Training loss (see :class:`LossName`).
        epochs: Passes over the training pairs (ignored when ``max_steps`` > 0).
        max_steps: Stop after this many optimizer steps; 0 runs ``epochs``.
        batch_size: Pairs per step per process; every other pair of the batch is an in-batch negative.
        mini_batch_size: Pairs per forward pass of ``cached-mnrl`` (memory), at most ``batch_size``.
        learning_rate: Peak learning rate of AdamW.
        warmup_ratio: Fraction of the steps with a linear learning-rate warm-up.
        weight_decay: AdamW weight decay.
        scale: Similarity scale of the ranking loss (1 / temperature).
        hard_negatives: Mined negatives per pair to use (from the pairs' ``negatives``); 0 uses in-batch only.
            The margin losses use as many of the pairs' teacher margins and need at least 1.
        margin_mse_weight: Weight of the MarginMSE part of ``mnrl+margin-mse`` (MNRL's weight is 1).
        teacher: The bi-encoder whose in-batch similarities ``distill-kl`` distils: a registry name
            (``mpnet``), a sentence-transformers folder or a hub id; only the distillation losses use it.
        distill_temperature: Softmax temperature of both similarity matrices in ``distill-kl``.
        distill_kl_weight: Weight of the distillation part of ``mnrl+distill-kl`` (MNRL's weight is 1).
        matryoshka_dims: Also train these truncated dimensions (MatryoshkaLoss); empty for none.
        max_seq_length: Tokens per text during training (the saved model keeps the base's limit).
        gather_across_devices: Under DDP, use the other processes' embeddings as negatives too.
        bf16: Train in bfloat16 mixed precision (GPUs that support it).
        dev_fraction: Fraction of the source documents held out as the dev split; 0 for none.
        max_dev_queries: Cap on dev queries (the dev evaluation runs at every checkpoint).
        eval_steps: Evaluate on dev and save a checkpoint every this many steps.
        save_total_limit: Checkpoints kept on disk (the best one is always kept).
        keep_checkpoints: Keep ``checkpoints/`` after a successful run (default: removed).
        seed: Seed of the split, the data order, dropout and the bootstrap.
        evaluate: Score base and adapted model on the domain and general suites at the end.
        size: Which build of the suites (``lite`` or ``full``) to score on.
        benchmarks: Where built suites are looked up (``DOMAIN-SIZE``) and built when absent.
        domain_benchmark: A specific domain benchmark folder (overrides ``benchmarks``).
        general_benchmark: A specific general benchmark folder (overrides ``benchmarks``).
        domain_tasks: Only these domain tasks; all when empty.
        general_tasks: Only these general tasks; all when empty.
        eval_batch_size: Texts per forward pass when scoring.
        backend: What runs base and adapted model when they are scored (``torch``, ``onnx``,
            ``onnx-int8``, ``openvino``; :mod:`domainemb.evaluation.backends`); training is torch's.
        bootstrap_samples: Bootstrap resamples for the confidence intervals.
    """

    base: str
    pairs: Path
    domain: Domain
    out: Path
    resume: bool = False

    loss: LossName = LossName.MNRL
    epochs: float = 1.0
    max_steps: int = 0
    batch_size: int = 32
    mini_batch_size: int = 8
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    scale: float = 20.0
    hard_negatives: int = 1
    margin_mse_weight: float = 1.0
    teacher: str | None = None
    distill_temperature: float = 0.05
    distill_kl_weight: float = 1.0
    matryoshka_dims: tuple[int, ...] = ()
    max_seq_length: int = 128
    gather_across_devices: bool = False
    bf16: bool = False

    dev_fraction: float = 0.1
    max_dev_queries: int = 500
    eval_steps: int = 50
    save_total_limit: int = 2
    keep_checkpoints: bool = False
    seed: int = 42

    evaluate: bool = True
    size: Size = Size.LITE
    benchmarks: Path = DEFAULT_BENCHMARKS
    domain_benchmark: Path | None = None
    general_benchmark: Path | None = None
    domain_tasks: tuple[str, ...] = ()
    general_tasks: tuple[str, ...] = ()
    eval_batch_size: int = 32
    backend: str = "torch"
    bootstrap_samples: int = 10_000

    def __post_init__(self) -> None:
        if Domain(self.domain) is Domain.GENERAL:
            raise DomainembError(
                "cannot adapt to the general domain: the general suite is the reference for forgetting"
            )
        for f in fields(self):  # infinity passes every bound below, and NaN passes a check written the other way
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise DomainembError(f"adapt config: {f.name} must be a finite number, got {value}")
        checks = [
            (self.epochs > 0, "epochs must be > 0"),
            (self.max_steps >= 0, "max_steps must be >= 0 (0 runs `epochs`)"),
            (self.batch_size >= 2, "batch_size must be >= 2 (the other pairs of a batch are the negatives)"),
            (self.mini_batch_size >= 1, "mini_batch_size must be >= 1"),
            (
                self.loss is not LossName.CACHED_MNRL or self.mini_batch_size <= self.batch_size,
                "mini_batch_size must be at most batch_size with loss cached-mnrl",
            ),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.scale > 0, "scale must be > 0"),
            (self.hard_negatives >= 0, "hard_negatives must be >= 0"),
            (
                not LossName(self.loss).uses_margins or self.hard_negatives >= 1,
                f"loss {self.loss} trains on the margins of mined negatives; hard_negatives must be >= 1",
            ),
            (self.margin_mse_weight > 0, "margin_mse_weight must be > 0"),
            (
                not LossName(self.loss).uses_teacher or bool(self.teacher and self.teacher.strip()),
                f"loss {self.loss} needs a teacher (--teacher MODEL or `teacher:` in the config), a bi-encoder such as mpnet",
            ),
            (
                LossName(self.loss).uses_teacher or self.teacher is None,
                f"teacher {self.teacher!r} is used only by loss distill-kl or mnrl+distill-kl, not by {self.loss}",
            ),
            (self.distill_temperature > 0, "distill_temperature must be > 0"),
            (self.distill_kl_weight > 0, "distill_kl_weight must be > 0"),
            (
                not self.matryoshka_dims or LossName(self.loss) in MATRYOSHKA_LOSSES,
                f"matryoshka_dims works with loss {', '.join(sorted(MATRYOSHKA_LOSSES))}, not {self.loss}",
            ),
            (all(d > 0 for d in self.matryoshka_dims), "matryoshka_dims must be positive"),
            (len(set(self.matryoshka_dims)) == len(self.matryoshka_dims), "matryoshka_dims must not repeat"),
            (self.max_seq_length >= 8, "max_seq_length must be >= 8"),
            (0 <= self.dev_fraction <= 0.5, "dev_fraction must be in [0, 0.5]"),
            (self.max_dev_queries >= 1, "max_dev_queries must be >= 1"),
            (self.eval_steps >= 1, "eval_steps must be >= 1"),
            (self.save_total_limit >= 1, "save_total_limit must be >= 1"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
            (self.bootstrap_samples >= 100, "bootstrap_samples must be >= 100"),
        ]
        for ok, message in checks:
            if not ok:
                raise DomainembError(f"adapt config: {message}")
        from domainemb.evaluation.backends import parse_backend

        object.__setattr__(self, "backend", parse_backend(self.backend).value)

    @classmethod
    def from_yaml(cls, path: Path | None, **run: Any) -> AdaptConfig:
        """Build a config from the command line's run fields and an optional YAML file.

        Args:
            path: A YAML mapping of hyper-parameters, or ``None`` for the defaults.
            **run: ``base``, ``pairs``, ``domain``, ``out`` and ``resume``; also any setting the
                command line gave (``teacher``), which overrides the file's.

        Raises:
            DomainembError: an unreadable file, an unknown key, a value of the wrong type or an
                impossible value, naming the key.
        """
        settings = read_yaml(path) if path is not None else {}
        return cls(**{**settings, **run})  # a setting given on the command line too (``teacher``) wins

    def hyperparameters(self) -> dict[str, Any]:
        """Every setting but the run fields, JSON-ready (for the model card and the run record)."""
        return {k: plain(v) for k, v in asdict(self).items() if k not in RUN_FIELDS}

    def training_settings(self) -> dict[str, Any]:
        """The settings that decide the trained weights; a resumed run must keep them."""
        return {k: v for k, v in self.hyperparameters().items() if k not in EVALUATION_FIELDS}


def read_yaml(path: Path) -> dict[str, Any]:
    """Read and type-check a YAML file of :class:`AdaptConfig` settings."""
    return read_settings(path, AdaptConfig, RUN_FIELDS, "adapt")
