"""Where a domain model came from: the one contract of the origin file inside an adapted or pruned model folder.

``domainemb adapt`` and ``domainemb prune`` write :data:`ORIGIN_FILE` into the model folder they save, so
the record travels with the folder: ``domainemb compare`` reads it back for every model it loads from a
folder (:func:`origin_of`), keeps it in ``analysis.json``, and the report marks the model ("domain
model", "pruned model") with one line saying what it was trained on and the command that made it.

The file is :meth:`ModelOrigin.to_dict`::

    {"format": "domainemb-model-origin/1", "kind": "adapted" | "pruned", "domain",
     "base": {"name", "fingerprint"},          the model it was made from
     "fingerprint",                            the folder's own fingerprint (fingerprint_folder)
     "data": {"source", "sha256", "pairs", "generators": {generator: pairs},
              "corpora": [{"name", "licence", "licence_flag"}], "tasks": [task]} | null,
     "teacher", "recipe", "command"}

Its name starts with a dot, so the folder's fingerprint (which leaves hidden files out, as it leaves
out the README) is the same with and without it: the origin names the fingerprint of the very folder
it sits in. ``SentenceTransformer(path)`` ignores it.

A folder made before the origin file existed is read from its run's record instead: a folder named
``model`` beside an ``adapt.json`` (adapt) or a ``prune_report.json`` (prune); the command is then
unknown.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domainemb.errors import DomainembError
from domainemb.jsonio import loads_text, write_json

if TYPE_CHECKING:
    from domainemb.prune.report import PruneReport

log = logging.getLogger(__name__)

ORIGIN_FILE = ".domainemb_origin.json"
ORIGIN_FORMAT = "domainemb-model-origin/1"
#: The records a model folder named ``model`` has beside it when it was made before the origin file.
_ADAPT_RECORD = "adapt.json"
_PRUNE_REPORT = "prune_report.json"
_MODEL_DIR = "model"


class OriginKind(StrEnum):
    """What made the model."""

    ADAPTED = "adapted"
    PRUNED = "pruned"

    @property
    def mark(self) -> str:
        """The report's mark for such a model."""
        return {OriginKind.ADAPTED: "domain model", OriginKind.PRUNED: "pruned model"}[self]


@dataclass(frozen=True)
class BaseModel:
    """The model a domain model was made from: the name given and its fingerprint."""

    name: str
    fingerprint: str


@dataclass(frozen=True)
class CorpusLicence:
    """A training corpus the pairs were drawn from, and its licence (``licence_flag``: open, NC, ...)."""

    name: str
    licence: str
    licence_flag: str


@dataclass(frozen=True)
class TrainingData:
    """What a model was trained (adapt) or calibrated (prune) on.

    Args:
        source: The pairs file's name, or where the calibration pairs came from.
        sha256: Checksum of that file (or of the suite that gave the pairs).
        pairs: How many pairs.
        generators: Pairs by synth generator (``ict``, ``crop``, ``llm`` ...), from the synth card.
        corpora: The training corpora in the folder the pairs were made from, with their licences.
        tasks: The tasks whose train splits were in that folder too.
    """

    source: str
    sha256: str
    pairs: int
    generators: dict[str, int] = field(default_factory=dict)
    corpora: tuple[CorpusLicence, ...] = ()
    tasks: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "pairs": self.pairs,
            "generators": dict(self.generators),
            "corpora": [{"name": c.name, "licence": c.licence, "licence_flag": c.licence_flag} for c in self.corpora],
            "tasks": list(self.tasks),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingData:
        return cls(
            source=data["source"],
            sha256=data["sha256"],
            pairs=int(data["pairs"]),
            generators={str(k): int(v) for k, v in data["generators"].items()},
            corpora=tuple(CorpusLicence(**c) for c in data["corpora"]),
            tasks=tuple(data["tasks"]),
        )


@dataclass(frozen=True)
class ModelOrigin:
    """Where one adapted or pruned model folder came from (see the module docstring).

    Args:
        kind: ``adapted`` or ``pruned``.
        domain: The domain it was made for.
        base: The model it was made from.
        fingerprint: The fingerprint of the model folder itself.
        data: What it was trained or calibrated on; ``None`` when not recorded.
        teacher: The teacher it learned from, if any.
        recipe: How it was made, in a few words (the loss and steps; the prune method, sparsity, retraining).
        command: The command that made it; ``None`` when unknown (a folder made before the origin file).
    """

    kind: OriginKind
    domain: str
    base: BaseModel
    fingerprint: str
    data: TrainingData | None
    teacher: str | None
    recipe: str
    command: str | None

    def __post_init__(self) -> None:
        # Read from a file a user may have edited: compared, sliced and joined as text later.
        texts = {"domain": self.domain, "fingerprint": self.fingerprint, "recipe": self.recipe}
        texts |= {"base.name": self.base.name, "base.fingerprint": self.base.fingerprint}
        for key, value in texts.items():
            if not isinstance(value, str):
                raise TypeError(f"{key} must be text, got {value!r}")

    @property
    def mark(self) -> str:
        return OriginKind(self.kind).mark

    def trained_on(self) -> str:
        """One line: what the model is and what it learned from.

        ``minilm adapted to finance on 1,334 ict pairs (pairs.jsonl) from a folder holding the training
        corpora maec-earnings-calls (CC BY-SA 4.0) and the train splits of 7 finance tasks; teacher mpnet``
        """
        kind = OriginKind(self.kind)
        verb = "adapted to" if kind is OriginKind.ADAPTED else "pruned for"
        line = f"{self.base.name} {verb} {self.domain}"
        if kind is OriginKind.PRUNED and self.recipe:
            line += f" ({self.recipe})"
        if self.data is not None:
            line += f", {'trained' if kind is OriginKind.ADAPTED else 'calibrated'} on {_data_phrase(self.data, self.domain)}"
        if kind is OriginKind.ADAPTED and self.recipe:
            line += f"; {self.recipe}"
        if self.teacher:
            line += f"; teacher {self.teacher}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, in the file's key order."""
        return {
            "format": ORIGIN_FORMAT,
            "kind": OriginKind(self.kind).value,
            "domain": self.domain,
            "base": {"name": self.base.name, "fingerprint": self.base.fingerprint},
            "fingerprint": self.fingerprint,
            "data": self.data.to_dict() if self.data is not None else None,
            "teacher": self.teacher,
            "recipe": self.recipe,
            "command": self.command,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ModelOrigin:
        """Read what :meth:`to_dict` wrote.

        Raises:
            ValueError: not a model origin of this format (or an unknown kind).
            KeyError / TypeError: a field is missing or malformed.
        """
        found = data.get("format") if isinstance(data, dict) else None
        if found != ORIGIN_FORMAT:
            raise ValueError(f"not a model origin (format {found!r}, expected {ORIGIN_FORMAT})")
        return cls(
            kind=OriginKind(data["kind"]),
            domain=data["domain"],
            base=BaseModel(**data["base"]),
            fingerprint=data["fingerprint"],
            data=TrainingData.from_dict(data["data"]) if data["data"] is not None else None,
            teacher=data["teacher"],
            recipe=data["recipe"],
            command=data["command"],
        )


def _data_phrase(data: TrainingData, domain: str) -> str:
    generators = " + ".join(data.generators) if data.generators else ""
    phrase = f"{data.pairs:,} {generators + ' ' if generators else ''}pairs ({data.source})"
    drawn_from = []
    if data.corpora:
        drawn_from.append("the training corpora " + ", ".join(f"{c.name} [{c.licence}]" for c in data.corpora))
    if data.tasks:
        drawn_from.append(f"the train splits of {len(data.tasks)} {domain} task{'s' if len(data.tasks) != 1 else ''}")
    if drawn_from:
        phrase += " drawn from " + " and ".join(drawn_from)
    return phrase


# ----------------------------------------------------------------------------- the file
def write_origin(model_folder: Path, origin: ModelOrigin) -> Path:
    """Write ``origin`` into ``model_folder`` (atomically); the file's path."""
    path = Path(model_folder) / ORIGIN_FILE
    write_json(path, origin.to_dict())
    return path


def read_origin(model_folder: Path) -> ModelOrigin | None:
    """The origin of a model folder: its origin file, else (for a folder named ``model`` made before
    the file existed) its run's ``adapt.json`` or ``prune_report.json``; ``None`` for any other folder.

    Raises:
        DomainembError: an origin file, or the run record it falls back to, that cannot be read; the
            message names the file.
    """
    folder = Path(model_folder)
    path = folder / ORIGIN_FILE
    if path.is_file():
        return _parsed(
            path, "model origin", lambda: ModelOrigin.from_dict(loads_text(path.read_text(encoding="utf-8")))
        )
    if folder.name != _MODEL_DIR or not folder.is_dir():
        return None
    record = folder.parent / _ADAPT_RECORD
    if record.is_file():
        return _parsed(
            record, "adapt record", lambda: adapted_origin(loads_text(record.read_text(encoding="utf-8")), command=None)
        )
    report = folder.parent / _PRUNE_REPORT
    if report.is_file():
        from domainemb.evaluation.encoders import fingerprint_folder
        from domainemb.prune.report import PruneReport

        return _parsed(
            report,
            "prune report",
            lambda: pruned_origin(PruneReport.from_disk(report), fingerprint_folder(folder), command=None),
        )
    return None


def _parsed(path: Path, what: str, parse: Callable[[], ModelOrigin]) -> ModelOrigin:
    """``parse()``, with any failure to read or parse ``path`` as one error naming it."""
    try:
        return parse()
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DomainembError(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from None


def write_pruned_origin(model_folder: Path, report: PruneReport, command: str | None) -> Path:
    """Write the origin of the pruned model saved in ``model_folder`` by the run ``report`` describes."""
    from domainemb.evaluation.encoders import fingerprint_folder

    return write_origin(model_folder, pruned_origin(report, fingerprint_folder(Path(model_folder)), command))


def origin_of(model: str) -> ModelOrigin | None:
    """The origin of the model folder ``model`` names (as ``--model`` takes it), if it has one that is its own.

    ``None`` for a registry name, a hub id or a folder without an origin. An origin naming another
    fingerprint than the folder has now describes the folder as it was made, not as it is (it was
    trained on again, or files were swapped in): it is left out, with a warning. The folder's
    fingerprint is remembered between runs, so this reads no weights a second time.

    Raises:
        DomainembError: as :func:`read_origin`.
    """
    from domainemb.evaluation.encoders import MODELS, fingerprint_folder

    folder = Path(model).expanduser()
    if model in MODELS or not folder.is_dir():
        return None
    origin = read_origin(folder)
    if origin is None:
        return None
    fingerprint = fingerprint_folder(folder)
    if origin.fingerprint != fingerprint:
        log.warning(
            "%s: its origin names fingerprint %s, the folder has %s: it changed after it was made, so it is not "
            "shown as a %s",
            folder,
            origin.fingerprint[:12],
            fingerprint[:12],
            origin.mark,
        )
        return None
    return origin


def command_line(argv: Sequence[str] | None = None) -> str:
    """The ``domainemb`` command this process runs, as the user typed it (quoted for a shell)."""
    return shlex.join(["domainemb", *(sys.argv[1:] if argv is None else argv)])


# ----------------------------------------------------------------------------- from the run records
def adapted_origin(record: Mapping[str, Any], command: str | None) -> ModelOrigin:
    """The origin of an adapted model, from its run record (``adapt.json``, as ``domainemb adapt`` writes it)."""
    data = record["data"]
    card = data.get("synth_card") or {}
    teacher = record.get("teacher") or card.get("teacher")
    training = record.get("training") or {}
    loss = (record.get("hyperparameters") or {}).get("loss")
    recipe = ", ".join(
        part
        for part in (
            f"loss {loss}" if loss else "",
            f"{training['steps']} steps" if training.get("steps") is not None else "",
        )
        if part
    )
    return ModelOrigin(
        kind=OriginKind.ADAPTED,
        domain=record["domain"],
        base=BaseModel(name=record["base"]["name"], fingerprint=record["base"]["fingerprint"]),
        fingerprint=record["adapted"]["fingerprint"],
        data=TrainingData(
            source=Path(data["pairs"]).name,
            sha256=data["sha256"],
            pairs=int(data["pairs_used"]),
            generators=_generators(card),
            **_corpus_sources(card, record["domain"]),
        ),
        teacher=teacher["name"] if teacher else None,
        recipe=recipe,
        command=command,
    )


def pruned_origin(report: PruneReport, fingerprint: str, command: str | None) -> ModelOrigin:
    """The origin of a pruned model, from its run's report and the saved folder's fingerprint."""
    from domainemb.pairs import read_card

    settings = report.hyperparameters
    retraining = report.retraining or {}
    loss = retraining.get("loss") or settings.get("retrain_loss")
    label = f"{report.method}/{report.variant}" if report.variant else report.method
    recipe = f"{label}, {'structured' if report.structured else 'unstructured'}, FFN sparsity {report.ffn_sparsity:.2f}"
    recipe += f", {report.retrain_steps} {loss} retraining steps" if report.retrain_steps else ", one-shot"
    calibration = report.calibration.get("domain")
    data = None
    if calibration:
        pairs_file = settings.get("pairs")
        card = read_card(Path(pairs_file)) if pairs_file else None
        card_dict = card.to_dict() if card is not None else {}
        data = TrainingData(
            source=Path(pairs_file).name if pairs_file else str(calibration.get("source", "")),
            sha256=str(calibration.get("source_checksum") or ""),
            pairs=int(calibration.get("pairs", 0)),
            generators=_generators(card_dict),
            **_corpus_sources(card_dict, report.domain),
        )
    teacher = settings.get("teacher")
    # The dense model is the distillation's target; a teacher given labels only the margins.
    if report.retrain_steps and loss == "distill":
        teacher = f"{report.model} (the dense model)" + (f", margins labelled by {teacher}" if teacher else "")
    return ModelOrigin(
        kind=OriginKind.PRUNED,
        domain=report.domain,
        base=BaseModel(name=report.model, fingerprint=report.model_fingerprint),
        fingerprint=fingerprint,
        data=data,
        teacher=str(teacher) if teacher else None,
        recipe=recipe,
        command=command,
    )


def _generators(card: Mapping[str, Any]) -> dict[str, int]:
    counts = card.get("counts") or {}
    return {str(k): int(v) for k, v in (counts.get("by_generator") or {}).items()}


def _corpus_sources(card: Mapping[str, Any], domain: str) -> dict[str, Any]:
    """The training corpora (with licences) and train-split tasks of the folder synth read the pairs from.

    From the folder's export card (``domainemb export-corpus`` writes it) when the folder is still
    there; else, for an export from before that card, the domain's registered training corpora whose
    files the folder holds. Nothing when the folder is gone: the origin then says only what the
    synth card recorded.
    """
    path = (card.get("corpus") or {}).get("path")
    folder = Path(path) if path else None
    if folder is None or not folder.is_dir():
        return {}
    from domainemb.synth.export import EXPORT_CARD

    export = folder / EXPORT_CARD
    if export.is_file():
        try:
            exported = json.loads(export.read_text(encoding="utf-8"))
            corpora = tuple(
                CorpusLicence(name=Path(c["file"]).stem, licence=c["licence"], licence_flag=c["licence_flag"])
                for c in exported.get("corpora", {}).values()
                if c.get("passages")
            )
            return {"corpora": corpora, "tasks": tuple(exported.get("by_task", {}))}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("%s: unreadable export card (%s); its corpora are not recorded", export, exc)
            return {}
    from domainemb.domains.registry import domain_training_corpora

    try:
        registered = domain_training_corpora(domain)
    except (DomainembError, ValueError, KeyError):
        return {}
    corpora = tuple(
        CorpusLicence(name=c.name, licence=c.source.licence, licence_flag=c.source.licence_flag.value)
        for c in registered
        if (folder / f"{c.name}.jsonl").is_file()
    )
    names = {f"{c.name}.jsonl" for c in registered}
    tasks = tuple(sorted(p.stem for p in folder.glob("*.jsonl") if p.name not in names))
    return {"corpora": corpora, "tasks": tasks}
