"""Typed result records, stored in mteb's result layout with domainemb's provenance.

Layout (mteb's ``ResultCache``)::

    OUT/results/<model name, "/" as "__">/<revision>/<TaskName>.json
    OUT/results/<model name>/<revision>/model_meta.json

Each task file is mteb's ``TaskResult`` JSON (``TaskResult.from_disk`` reads it) with one more
key, ``"domainemb"``, holding the provenance: model fingerprint, benchmark manifest checksum, task
data revision, versions, seed and wall time. Files are written to a temporary name and renamed, so
a result file is either complete or absent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.atomic import write_atomic
from domainemb.jsonio import write_json

if TYPE_CHECKING:
    from mteb.results import TaskResult

PREDICTIONS_FOLDER = "predictions"
RESULTS_FOLDER = "results"
PROVENANCE_KEY = "domainemb"


@dataclass(frozen=True)
class Provenance:
    """Where a score came from.

    Args:
        model: The model as the user named it.
        model_name: The name mteb records.
        model_fingerprint: sha256 of the model's weights/config or parameters.
        benchmark: The benchmark folder evaluated.
        benchmark_checksum: sha256 of its manifest (which pins every data file).
        task_data_revision: Hash of the task's own data files.
        domainemb_version: Version of domainemb that ran it.
        mteb_version: Version of mteb whose evaluator scored it.
        seed: Seed given to the task (classification and clustering sample with it).
        wall_time_s: Seconds the evaluation of the task took, loading included.
        devices: Where it was encoded (``("cpu", "cpu")``: two worker processes); empty for models
            that run no torch model, and in files written before it was recorded. Scores do not
            depend on it.
        backend: What ran the model (``torch``, ``onnx``, ``onnx-int8``, ``openvino``); empty for
            models that run no neural network, and in files written before it was recorded. A
            non-torch backend is also part of ``model_fingerprint``.
    """

    model: str
    model_name: str
    model_fingerprint: str
    benchmark: str
    benchmark_checksum: str
    task_data_revision: str
    domainemb_version: str
    mteb_version: str
    seed: int
    wall_time_s: float
    devices: tuple[str, ...] = ()
    backend: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", tuple(self.devices))  # JSON gives a list


@dataclass(frozen=True)
class TaskScore:
    """One model's result on one task.

    Args:
        task: Task name.
        task_type: mteb task type.
        main_score_name: The metric the task reports as main score (e.g. ``ndcg_at_10``).
        main_score: Its value (mean over evaluated splits and subsets).
        provenance: Where it came from.
        mteb_result: mteb's full result (every metric); ``None`` for a score read back from disk,
            whose file is that result (``mteb.results.TaskResult.from_disk`` reads it), so that
            keeping earlier scores does not import mteb.
        reused: True when read from an earlier run instead of computed now.
    """

    task: str
    task_type: str
    main_score_name: str
    main_score: float
    provenance: Provenance
    mteb_result: TaskResult | None
    reused: bool = False

    def to_disk(self, path: Path) -> None:
        """Write mteb's TaskResult JSON plus the provenance, atomically."""

        if self.mteb_result is None:
            raise ValueError(f"{self.task}: a score read back from disk is already written")

        def write(tmp: Path) -> None:
            self.mteb_result.to_disk(tmp)  # mteb's own serialisation (scores rounded to 6 decimals)
            data = json.loads(tmp.read_text(encoding="utf-8"))
            data[PROVENANCE_KEY] = {
                "task_type": self.task_type,
                "main_score_name": self.main_score_name,
                "main_score": self.main_score,
                **asdict(self.provenance),
            }
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

        write_atomic(path, write)

    @classmethod
    def from_disk(cls, path: Path) -> TaskScore:
        """Read a result file written by :meth:`to_disk`.

        Raises:
            ValueError: the file is not a domainemb result (no provenance) or is malformed.
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a JSON object")
        extra = data.pop(PROVENANCE_KEY, None)
        if not isinstance(extra, dict):
            raise ValueError(f"{path}: no {PROVENANCE_KEY!r} provenance; not a domainemb result")
        if not isinstance(data.get("task_name"), str) or not isinstance(data.get("scores"), dict):
            raise ValueError(f"{path}: not an mteb task result (no task_name or scores)")
        fields = set(Provenance.__dataclass_fields__)
        return cls(
            task=data["task_name"],
            task_type=extra["task_type"],
            main_score_name=extra["main_score_name"],
            main_score=float(extra["main_score"]),
            provenance=Provenance(**{k: v for k, v in extra.items() if k in fields}),
            mteb_result=None,
            reused=True,
        )


def result_path(out: Path, model_name: str, revision: str, task: str) -> Path:
    """Where a task's result goes in mteb's layout."""
    return out / RESULTS_FOLDER / model_name.replace("/", "__").replace(" ", "_") / revision / f"{task}.json"


def prediction_path(out: Path, model_name: str, revision: str, task: str) -> Path:
    """Where mteb's per-item predictions of a task go (``prediction_folder``), beside ``out/results``."""
    return (
        out
        / PREDICTIONS_FOLDER
        / model_name.replace("/", "__").replace(" ", "_")
        / revision
        / f"{task}_predictions.json"
    )


def write_model_meta(folder: Path, meta: dict[str, Any]) -> None:
    """mteb's ``model_meta.json`` beside a model revision's task files (atomic)."""
    write_json(folder / "model_meta.json", meta, indent=4)


def load_results(out: Path) -> list[TaskScore]:
    """Every domainemb result under ``out`` (files that are not results are skipped)."""
    scores = []
    for path in sorted((out / RESULTS_FOLDER).glob("*/*/*.json")):
        if path.name == "model_meta.json":
            continue
        try:
            scores.append(TaskScore.from_disk(path))
        except (ValueError, KeyError, TypeError):
            continue
    return scores
