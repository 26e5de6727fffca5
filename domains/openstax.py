"""Tasks derived from the structure of an OpenStax textbook (CNXML source), shared by several suites.

An OpenStax book repository holds one ``modules/<id>/index.cnxml`` per textbook section (title,
learning objectives, paragraphs, exercises, glossary ``<definition><term/><meaning/></definition>``)
and ``collections/*.collection.xml`` files giving the chapter -> module hierarchy. None of it carries
relevance judgements, so every task here takes its labels from that structure (glossary term ->
its meaning, paragraph or subsection -> its chapter) and is marked ``annotations="derived"``.

Only the modules that sit in a chapter of the book's first collection (sorted by file name) are
used: this drops front/back matter (preface, appendices) and, for bundles holding two editions
over shared modules (Chemistry 2e and Chemistry: Atoms First 2e), gives each module one chapter.

A book that is a domain's training corpus (:mod:`domainemb.domains.corpora`) feeds no task; it is
read by :func:`book_paragraphs`: every paragraph of every chapter of all its collections (a bundle
of two volumes gives both), each with the heading it sits under.
"""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domainemb.domains.helpers import SEED, parse_once, task_spec, text_id
from domainemb.domains.readers import SourceFiles, decode
from domainemb.domains.splits import HALVES_NOTE, classification_halves, unambiguous
from domainemb.domains.tables import (
    Tables,
    labelled_tables,
    pair_tables,
    retrieval_tables,
)
from domainemb.errors import DataError
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskSpec, TaskType

_CNXML = "{http://cnx.rice.edu/cnxml}"
_COL = "{http://cnx.rice.edu/collxml}"
_MDML = "{http://cnx.rice.edu/mdml}"
_MATHML = "{http://www.w3.org/1998/Math/MathML}"

# Elements whose text is not prose: images, alt texts, metadata, cross-reference labels.
_SKIP = {f"{_CNXML}{t}" for t in ("media", "image", "metadata", "label", "glossary")}
# Paragraphs shorter than this are headings, answer stubs ("Answer: 4.2 g") or captions.
_MIN_PARA_WORDS = 12


@dataclass(frozen=True)
class Definition:
    term: str
    meaning: str
    chapter: str


@dataclass(frozen=True)
class Book:
    """The parsed book: chapter titles in reading order, labelled paragraphs, subsections, glossary."""

    chapters: tuple[str, ...]
    paragraphs: tuple[tuple[str, str], ...]  # (text, chapter)
    sections: tuple[tuple[str, str], ...]  # (title + text of a module's top-level <section>, chapter)
    definitions: tuple[Definition, ...]


@dataclass(frozen=True)
class BookParagraph:
    """One paragraph of a book, for a training corpus.

    Args:
        module: The CNXML module (textbook section) it belongs to, e.g. ``"m67849"``.
        heading: The title of the innermost ``<section>`` holding it, else the module's title.
        text: The paragraph as plain text (:func:`_text`).
    """

    module: str
    heading: str
    text: str


def openstax_source(key: str, repo: str, commit: str, archive: str, sha256: str, licence: str, citation: str) -> Source:
    """A pinned OpenStax book repack (``git archive | xz`` of the CNXML repository).

    Args:
        key: ``<domain>/<dataset>`` folder of the mirror.
        repo: Upstream repository URL.
        commit: Pinned full commit hash.
        archive: File name of the ``.tar.xz`` repack in the dataset folder.
        sha256: Full sha256 of the archive.
        licence: Licence text as stated by the source.
        citation: The book (title, authors, OpenStax, year).
    """
    return Source(
        key=key,
        repo=repo,
        commit=commit,
        files=(SourceFile(archive, sha256, None),),
        licence=licence,
        licence_flag=LicenceFlag.NC,
        citation=citation,
        mteb_license="cc-by-nc-sa-4.0",
    )


def openstax_tasks(source: Source, domain: Domain, prefix: str, mteb_domains: tuple[str, ...]) -> list[TaskSpec]:
    """The four structure-derived tasks of one OpenStax book.

    Args:
        source: The book, from :func:`openstax_source`.
        domain: Suite the tasks belong to.
        prefix: Task-name prefix, e.g. ``"OpenStaxChem"``.
        mteb_domains: mteb domain tags for the tasks.

    Returns:
        ``{prefix}GlossaryRetrieval``, ``{prefix}SectionClustering``, ``{prefix}ChapterClassification``
        and ``{prefix}TermDefinitionPairClassification``.
    """
    book = f"the OpenStax textbook ({source.key})"
    derived = " Labels are DERIVED from the book's structure (no human relevance judgements)."

    def book_task(name: str, type: TaskType, description: str, build: Callable[[Book], Tables]) -> TaskSpec:
        """A task named ``{prefix}{name}`` whose tables ``build`` makes from the parsed book."""
        return task_spec(
            domain,
            f"{prefix}{name}",
            type,
            description + derived,
            (source,),
            lambda files: build(_book(files, source)),
            annotations="derived",
            mteb_domains=mteb_domains,
        )

    return [
        book_task(
            "GlossaryRetrieval",
            TaskType.RETRIEVAL,
            f"Retrieve the glossary definition of a key term from {book}. Query = a glossary term, corpus = "
            "every distinct definition text of the book's glossaries, relevant = the definition(s) given for "
            "that term (terms are grouped case-insensitively, so a term defined in several sections has several "
            "relevant definitions).",
            _glossary_retrieval,
        ),
        book_task(
            "SectionClustering",
            TaskType.CLUSTERING,
            f"Cluster the subsections of {book} (title + text of each top-level <section> of a textbook "
            "section) by the chapter they belong to, per the book's collection file.",
            _section_clustering,
        ),
        book_task(
            "ChapterClassification",
            TaskType.CLASSIFICATION,
            f"Classify a paragraph of {book} (running text, examples and exercises, at least "
            f"{_MIN_PARA_WORDS} words) into its chapter, per the book's collection file. "
            + HALVES_NOTE.format("chapter")
            + " Paragraphs occurring in more than one chapter are dropped.",
            _chapter_classification,
        ),
        book_task(
            "TermDefinitionPairClassification",
            TaskType.PAIR_CLASSIFICATION,
            f"Decide whether a glossary definition from {book} defines the given term. Positives are the "
            "book's own (term, definition) glossary entries; each term gets one negative: the definition "
            f"of another term from the same chapter (a hard negative), drawn with random.Random({SEED}).",
            _term_definition_pairs,
        ),
    ]


# ----------------------------------------------------------------------------- parsing
def _book(files: SourceFiles, source: Source) -> Book:
    """The parsed book of ``source`` (its one file, the CNXML archive); parsed once, several tasks share it."""
    return _parse_book(files, source, source.files[0].name)


@parse_once
def _parse_book(files: SourceFiles, source: Source, archive: str) -> Book:
    modules, collections = _archive(files, source, archive)
    chapter_of = _chapters(collections[min(collections)])
    _check_modules(chapter_of, modules, source, archive)

    paragraphs, sections, definitions = [], [], []
    for module_id, chapter in chapter_of.items():  # reading order
        content = modules[module_id].find(f"{_CNXML}content")
        if content is not None:
            paragraphs += [(t, chapter) for t in _paragraphs(content) if len(t.split()) >= _MIN_PARA_WORDS]
            for sec in content.findall(f"{_CNXML}section"):
                title = _text(sec.find(f"{_CNXML}title"))
                body = " ".join(_paragraphs(sec))
                if body:
                    sections.append((f"{title}. {body}" if title else body, chapter))
        for d in modules[module_id].iter(f"{_CNXML}definition"):
            term, meaning = _text(d.find(f"{_CNXML}term")), _text(d.find(f"{_CNXML}meaning"))
            if term and meaning:
                definitions.append(Definition(term, meaning, chapter))
    chapters = tuple(dict.fromkeys(chapter_of.values()))
    return Book(chapters, tuple(paragraphs), tuple(sections), tuple(definitions))


def _archive(files: SourceFiles, source: Source, archive: str) -> tuple[dict[str, ET.Element], dict[str, ET.Element]]:
    """The parsed ``modules/<id>/index.cnxml`` (by module id) and ``collections/*.collection.xml`` (by member name)."""
    modules: dict[str, ET.Element] = {}
    collections: dict[str, ET.Element] = {}
    for member, data in files.tar_members(source, archive):
        parts = Path(member).parts
        if len(parts) == 3 and parts[0] == "modules" and parts[2] == "index.cnxml":
            modules[parts[1]] = _xml(data, source.key, member)
        elif len(parts) == 2 and parts[0] == "collections" and member.endswith(".collection.xml"):
            collections[member] = _xml(data, source.key, member)
    if not collections:
        raise DataError(source.key, archive, "no collections/*.collection.xml in the archive")
    return modules, collections


def _check_modules(chapter_of: dict[str, str], modules: dict[str, ET.Element], source: Source, archive: str) -> None:
    missing = sorted(set(chapter_of) - set(modules))
    if missing:
        raise DataError(source.key, archive, f"collection lists module {missing[0]} that the archive lacks")


def book_paragraphs(files: SourceFiles, source: Source) -> tuple[BookParagraph, ...]:
    """Every paragraph of ``source``'s book (at least 12 words), in reading order, with its heading.

    Unlike the tasks, which use the first collection only, this reads the chapters of every
    collection (sorted by file name; a module listed twice is read once), so both volumes of a
    two-volume bundle count.
    """
    archive = source.files[0].name
    modules, collections = _archive(files, source, archive)
    chapter_of: dict[str, str] = {}
    for name in sorted(collections):
        for module_id, chapter in _chapters(collections[name]).items():
            chapter_of.setdefault(module_id, chapter)
    _check_modules(chapter_of, modules, source, archive)
    out: list[BookParagraph] = []
    for module_id in chapter_of:
        module = modules[module_id]
        content = module.find(f"{_CNXML}content")
        if content is None:
            continue
        title = _text(module.find(f"{_CNXML}title"))
        for heading, text in _headed_paragraphs(content, title):
            if len(text.split()) >= _MIN_PARA_WORDS:
                out.append(BookParagraph(module_id, heading, text))
    return tuple(out)


def _headed_paragraphs(node: ET.Element, heading: str) -> list[tuple[str, str]]:
    """(heading, text) of the paragraphs :func:`_paragraphs` finds, each under its innermost section title."""
    out: list[tuple[str, str]] = []
    for child in node:
        if child.tag in _SKIP:
            continue
        if child.tag == f"{_CNXML}para":
            text = _text(child)
            if text:
                out.append((heading, text))
        elif child.tag == f"{_CNXML}section":
            out += _headed_paragraphs(child, _text(child.find(f"{_CNXML}title")) or heading)
        else:
            out += _headed_paragraphs(child, heading)
    return out


def _xml(data: bytes, dataset: str, member: str) -> ET.Element:
    try:
        return ET.fromstring(decode(data, dataset, member))
    except ET.ParseError as exc:
        raise DataError(dataset, member, f"malformed XML: {exc}") from None


def _chapters(collection: ET.Element) -> dict[str, str]:
    """module id -> title of the innermost subcollection listing it (chapters; units are skipped)."""
    out: dict[str, str] = {}

    def walk(node: ET.Element, title: str | None) -> None:
        content = node.find(f"{_COL}content")
        for child in content if content is not None else ():
            if child.tag == f"{_COL}module" and title is not None:
                out.setdefault(child.get("document", ""), title)
            elif child.tag == f"{_COL}subcollection":
                walk(child, _text(child.find(f"{_MDML}title")))

    walk(collection, None)
    out.pop("", None)
    return out


def _paragraphs(node: ET.Element) -> list[str]:
    """Plain texts of the outermost <para> elements under ``node`` (glossary excluded)."""
    return [text for _, text in _headed_paragraphs(node, "")]


def _text(node: ET.Element | None) -> str:
    """Markup stripped to one line; formulas kept as their concatenated MathML tokens (e.g. H2O)."""
    if node is None:
        return ""
    pieces: list[str] = []

    def walk(el: ET.Element) -> None:
        if el.tag in _SKIP:
            pass
        elif el.tag == f"{_CNXML}title" and el is not node:
            title = _text(el)  # a run-in heading ("Solution") becomes its own sentence
            pieces.append(f" {title}{'' if title[-1:] in '.?!:' else '.'} ")
        elif el.tag.startswith(_MATHML):
            pieces.append("".join(el.itertext()))
        else:
            pieces.append(el.text or "")
            for child in el:
                walk(child)
                pieces.append(child.tail or "")

    walk(node)
    # Empty cross-references (<link target-id=".."/>) leave "see ." behind: close the gap before punctuation.
    return re.sub(r"\s+([.,;:])", r"\1", re.sub(r"\s+", " ", "".join(pieces))).strip()


# ----------------------------------------------------------------------------- builders
def _glossary_retrieval(book: Book) -> Tables:
    corpus: dict[str, str] = {}
    queries: dict[str, str] = {}  # casefolded term -> first spelling, in reading order
    qrels: dict[tuple[str, str], int] = {}
    for d in book.definitions:
        key = d.term.casefold()
        queries.setdefault(key, d.term)
        did = text_id(d.meaning)
        corpus.setdefault(did, d.meaning)
        qrels[(f"q{text_id(key)}", did)] = 1
    return retrieval_tables(
        [(did, "", text) for did, text in corpus.items()],
        [(f"q{text_id(key)}", term) for key, term in queries.items()],
        [(q, d, s) for (q, d), s in qrels.items()],
    )


def _section_clustering(book: Book) -> Tables:
    return labelled_tables({"test": unambiguous(book.sections)}, TaskType.CLUSTERING)


def _chapter_classification(book: Book) -> Tables:
    return classification_halves(book.paragraphs)


def _term_definition_pairs(book: Book) -> Tables:
    # A meaning is a true match for every term it defines anywhere in the book.
    meanings_of: dict[str, set[str]] = defaultdict(set)
    for d in book.definitions:
        meanings_of[d.term.casefold()].add(d.meaning)
    pairs: dict[tuple[str, str], int] = {}
    rng = random.Random(SEED)
    by_chapter: dict[str, list[Definition]] = defaultdict(list)
    for d in book.definitions:
        by_chapter[d.chapter].append(d)
    for chapter in book.chapters:
        entries = by_chapter.get(chapter, [])
        for d in entries:
            if (d.term, d.meaning) in pairs:
                continue
            pairs[(d.term, d.meaning)] = 1
            own = meanings_of[d.term.casefold()]
            others = sorted({e.meaning for e in entries} - own)
            if others:
                pairs.setdefault((d.term, rng.choice(others)), 0)
    return pair_tables([(t, m, label) for (t, m), label in pairs.items()], TaskType.PAIR_CLASSIFICATION)
