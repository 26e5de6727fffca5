"""Training corpora: unlabelled domain text that feeds no benchmark task.

A domain module lists its corpora in ``TRAINING_CORPORA``, apart from ``SOURCES`` (the benchmark's
datasets), and the registry (:func:`~domainemb.domains.registry.domain_training_corpora`) checks
that no corpus is also a task source. Each corpus is a pinned :class:`~domainemb.types.Source` like
any other, so its files are sha256-checked when read, and says how it is cut into passages:

* :attr:`PassageUnit.SENTENCE_WINDOW`: a transcript archive (``<folder>/<document>/text.txt``, one
  sentence per line, as MAEC ships its earnings calls); a passage is a window of
  :attr:`PassageConfig.sentences_per_passage` consecutive sentences, windows not overlapping.
* :attr:`PassageUnit.PARAGRAPH`: an OpenStax CNXML book; a passage is one paragraph, titled with
  the heading it sits under (:func:`~domainemb.domains.openstax.book_paragraphs`).

``export-corpus`` (:mod:`domainemb.synth.export`) writes the passages, decontaminated against the
domain's test data, beside the tasks' training-side texts.

Example::

    corpus = domain_training_corpora("finance")[0]
    for passage in corpus.passages(SourceFiles(), PassageConfig(sentences_per_passage=6)):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from domainemb.domains.readers import SourceFiles, decode
from domainemb.errors import DomainembError
from domainemb.types import Source

#: Transcript sentences per passage: about 115 words of MAEC (its sentences average 19 words), so a
#: passage is one of ``synth``'s 160-token chunks.
SENTENCES_PER_PASSAGE = 6


class PassageUnit(StrEnum):
    """How a training corpus is cut into passages."""

    SENTENCE_WINDOW = "sentence-window"
    PARAGRAPH = "paragraph"


@dataclass(frozen=True)
class PassageConfig:
    """How training corpora are cut into passages.

    Args:
        sentences_per_passage: Consecutive transcript sentences in one passage (windows do not overlap;
            a document's last window may be shorter).
    """

    sentences_per_passage: int = SENTENCES_PER_PASSAGE

    def __post_init__(self) -> None:
        if self.sentences_per_passage < 1:
            raise DomainembError(f"sentences_per_passage must be at least 1, got {self.sentences_per_passage}")


@dataclass(frozen=True)
class Passage:
    """One passage of a training corpus.

    Args:
        corpus: The corpus's source key, e.g. ``"finance/maec-earnings-calls"``.
        doc_id: The document it comes from (a call's folder name, a textbook module id).
        id: ``<doc_id>#<index>``, its position among the document's passages; unique in the corpus.
        text: The passage.
        title: The heading it sits under (textbooks), else "".
    """

    corpus: str
    doc_id: str
    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class TrainingCorpus:
    """A pinned source of unlabelled domain text and how it is cut into passages.

    Args:
        source: The pinned dataset (repo, commit, licence, flag, citation, file checksums).
        unit: What one passage is.
        description: What the text is, for the export card and ``domainemb list``.
    """

    source: Source
    unit: PassageUnit
    description: str

    @property
    def name(self) -> str:
        """The dataset folder name, e.g. ``"maec-earnings-calls"``."""
        return self.source.key.split("/", 1)[1]

    def passages(self, files: SourceFiles, config: PassageConfig | None = None) -> Iterator[Passage]:
        """The corpus's passages, in document order, read from its verified files.

        Raises:
            DataError: when a file is missing, altered or unreadable.
        """
        return _READERS[self.unit](files, self.source, config or PassageConfig())


def _sentence_windows(files: SourceFiles, source: Source, config: PassageConfig) -> Iterator[Passage]:
    """Windows of consecutive lines of every ``<document>/text.txt`` in the source's archive, by document name."""
    archive = source.files[0].name
    documents = {}
    for member, data in files.tar_members(source, archive):
        path = PurePosixPath(member)
        if path.name == "text.txt" and len(path.parts) >= 2:
            documents[path.parts[-2]] = decode(data, source.key, member)
    n = config.sentences_per_passage
    for doc_id in sorted(documents):
        sentences = [line.strip() for line in documents[doc_id].splitlines() if line.strip()]
        for index, first in enumerate(range(0, len(sentences), n)):
            yield Passage(source.key, doc_id, f"{doc_id}#{index}", " ".join(sentences[first : first + n]))


def _paragraphs(files: SourceFiles, source: Source, config: PassageConfig) -> Iterator[Passage]:
    # Imported here: the command line imports this module for its defaults and must not load polars,
    # whose worker threads would take the Ctrl-C meant for the main thread.
    from domainemb.domains.openstax import book_paragraphs

    index: dict[str, int] = {}
    for para in book_paragraphs(files, source):
        i = index[para.module] = index.get(para.module, -1) + 1
        yield Passage(source.key, para.module, f"{para.module}#{i}", para.text, para.heading)


_READERS: dict[PassageUnit, Callable[[SourceFiles, Source, PassageConfig], Iterator[Passage]]] = {
    PassageUnit.SENTENCE_WINDOW: _sentence_windows,
    PassageUnit.PARAGRAPH: _paragraphs,
}
