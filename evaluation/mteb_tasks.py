"""Built benchmark tasks as real mteb tasks: one AbsTask subclass per type, metadata from the manifest.

``load_data`` reads the task's parquet files; scoring is entirely mteb's (its evaluators and metrics).

A task that carries the name of one of mteb's own tasks takes that task's scoring settings from
mteb's definition (:func:`mteb_settings`: samples per label, experiments, train split, evaluator),
so its score can be compared with mteb's published one; every other task gets mteb's defaults.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import polars as pl
from datasets import Dataset, DatasetDict
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.multilabel_classification import AbsTaskMultilabelClassification
from mteb.abstasks.pair_classification import AbsTaskPairClassification
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.abstasks.text.summarization import AbsTaskSummarization

from domainemb.domains.benchmark import Benchmark
from domainemb.domains.manifest import TaskEntry, data_revision
from domainemb.types import TaskType


def task_metadata(task: TaskEntry) -> TaskMetadata:
    mteb_task = mteb_definition(task.name)
    splits: list[str] = []
    if mteb_task is not None and mteb_task.metadata.type == task.type:
        # mteb's own evaluation splits where the task is mteb's, as far as our tables hold them.
        splits = [s for s in mteb_task.metadata.eval_splits if s in task.sizes]
    return TaskMetadata(
        name=task.name,
        description=task.description,
        reference=None,
        dataset={"path": f"domainemb/{task.domain}/{task.name}", "revision": data_revision(task)},
        type=task.type,
        category="t2t",
        modalities=["text"],
        eval_splits=splits or ["test"],
        eval_langs=["eng-Latn"],
        main_score=task.main_score,
        date=None,
        domains=list(task.mteb_domains) or None,
        task_subtypes=[],
        license=task.mteb_license,
        annotations_creators=task.annotations,
        dialect=[],
        sample_creation="found",
        bibtex_citation=task.citation,
    )


@cache
def _mteb_registry() -> dict[str, type]:
    from mteb.get_tasks import TASK_LIST

    return {cls.metadata.name: cls for cls in TASK_LIST}


def mteb_definition(name: str) -> type | None:
    """mteb's task class named ``name`` (superseded ones included), or ``None`` if mteb has none."""
    return _mteb_registry().get(name)


#: The class attributes of an mteb task, per type, that decide how it is scored; a task carrying
#: an mteb task's name takes them from that task (mteb's EmotionClassification trains on 16 samples
#: per label, AmazonCounterfactualClassification on 32; mteb's default is 8).
SETTINGS: dict[TaskType, tuple[str, ...]] = {
    TaskType.CLASSIFICATION: ("samples_per_label", "n_experiments", "train_split"),
    TaskType.MULTILABEL_CLASSIFICATION: ("samples_per_label", "n_experiments", "train_split"),
    TaskType.SUMMARIZATION: ("evaluator",),
}


def mteb_settings(name: str, type: TaskType) -> dict[str, Any]:
    """The scoring settings of mteb's task ``name`` (see :data:`SETTINGS`); empty if mteb has no such task.

    Example::

        mteb_settings("EmotionClassification", TaskType.CLASSIFICATION)
        # {'samples_per_label': 16, 'n_experiments': 10, 'train_split': 'train'}
    """
    mteb_task = mteb_definition(name)
    if mteb_task is None or mteb_task.metadata.type != type.value:
        return {}
    return {attr: getattr(mteb_task, attr) for attr in SETTINGS.get(type, ()) if hasattr(mteb_task, attr)}


class _FromBenchmark:
    """Mixin: an mteb task whose data are the parquet tables of a built benchmark task."""

    benchmark: Benchmark
    entry: TaskEntry

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        if getattr(self, "data_loaded", False):
            return
        self.dataset = self._to_dataset(self.benchmark.tables(self.entry))
        self.data_loaded = True

    def _to_dataset(self, tables: dict[str, pl.DataFrame]) -> Any:
        raise NotImplementedError


def _hf(df: pl.DataFrame) -> Dataset:
    return Dataset.from_dict(df.to_dict(as_series=False))


class RetrievalTask(_FromBenchmark, AbsTaskRetrieval):
    def _to_dataset(self, tables):
        qrels: dict[str, dict[str, int]] = {}
        for q, d, s in tables["qrels"].iter_rows():
            qrels.setdefault(q, {})[d] = s
        top_ranked = None
        if "candidates" in tables:
            top_ranked = {q: list(ids) for q, ids in tables["candidates"].iter_rows()}
        split = RetrievalSplitData(
            corpus=_hf(tables["corpus"].select("id", "title", "text")),
            queries=_hf(tables["queries"].select("id", "text")),
            relevant_docs=qrels,
            top_ranked=top_ranked,
        )
        return {"default": {"test": split}}


class STSTask(_FromBenchmark, AbsTaskSTS):
    def _to_dataset(self, tables):
        return DatasetDict({"test": _hf(tables["test"])})


class PairClassificationTask(_FromBenchmark, AbsTaskPairClassification):
    def _to_dataset(self, tables):
        return DatasetDict({"test": _hf(tables["test"].rename({"label": "labels"}))})


def _label_ids(tables: dict[str, pl.DataFrame], column: str) -> dict[str, int]:
    values = pl.concat(
        [df[column].explode() if df[column].dtype == pl.List(pl.Utf8) else df[column] for df in tables.values()]
    )
    return {v: i for i, v in enumerate(sorted(set(values.drop_nulls().to_list())))}


class ClassificationTask(_FromBenchmark, AbsTaskClassification):
    def _to_dataset(self, tables):
        ids = _label_ids(tables, "label")
        return DatasetDict(
            {
                s: Dataset.from_dict({"text": df["text"].to_list(), "label": [ids[v] for v in df["label"]]})
                for s, df in tables.items()
            }
        )


class MultilabelClassificationTask(_FromBenchmark, AbsTaskMultilabelClassification):
    def _to_dataset(self, tables):
        ids = _label_ids(tables, "labels")
        return DatasetDict(
            {
                s: Dataset.from_dict(
                    {"text": df["text"].to_list(), "label": [[ids[v] for v in row] for row in df["labels"]]}
                )
                for s, df in tables.items()
            }
        )


class ClusteringTask(_FromBenchmark, AbsTaskClustering):
    # Cluster every document (mteb's default embeds only 4% of a large set).
    max_fraction_of_documents_to_embed = None
    max_document_to_embed = None

    def _to_dataset(self, tables):
        df = tables["test"]
        return DatasetDict(
            {"test": Dataset.from_dict({"sentences": df["text"].to_list(), "labels": df["label"].to_list()})}
        )


class SummarizationTask(_FromBenchmark, AbsTaskSummarization):
    def _to_dataset(self, tables):
        return DatasetDict({"test": _hf(tables["test"])})


_CLASSES = {
    TaskType.RETRIEVAL: RetrievalTask,
    TaskType.RERANKING: RetrievalTask,
    TaskType.STS: STSTask,
    TaskType.PAIR_CLASSIFICATION: PairClassificationTask,
    TaskType.CLASSIFICATION: ClassificationTask,
    TaskType.MULTILABEL_CLASSIFICATION: MultilabelClassificationTask,
    TaskType.CLUSTERING: ClusteringTask,
    TaskType.SUMMARIZATION: SummarizationTask,
}


def to_mteb_task(benchmark: Benchmark, entry: TaskEntry | str):
    """An mteb task instance for one task of a built benchmark (a subclass named after the task)."""
    entry = benchmark.task(entry) if isinstance(entry, str) else entry
    base = _CLASSES[TaskType(entry.type)]
    attrs: dict[str, Any] = {"metadata": task_metadata(entry), "benchmark": benchmark, "entry": entry}
    attrs.update(mteb_settings(entry.name, TaskType(entry.type)))
    if entry.min_score is not None:
        attrs["min_score"] = entry.min_score
        attrs["max_score"] = entry.max_score
    if base is ClusteringTask:
        # Each of mteb's ten k-means runs samples this many documents with replacement (default
        # 16,384). For our sets of a few hundred that only repeats rows and costs seconds per run;
        # a bootstrap of the set's own size, as mteb's small clustering tasks set it, does not.
        attrs["max_documents_per_cluster"] = entry.sizes["test"]
    cls = type(entry.name, (base,), attrs)
    return cls()


def mteb_tasks(benchmark: Benchmark, names: list[str] | None = None) -> list:
    entries = [benchmark.task(n) for n in names] if names else benchmark.tasks
    return [to_mteb_task(benchmark, e) for e in entries]
