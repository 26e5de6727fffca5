"""The ``structure`` generator: a document's own headings as queries, the passages under them as positives.

Weak supervision from the text's structure, as E5 (Wang et al., 2022) took title -> passage pairs
from the web: a textbook section title -> a paragraph of that section, a Markdown ``#`` or HTML
``h1``-``h6`` heading -> the text under it. No LLM and no model is involved; the pairs are short ->
long (``short-long``).

Where headings come from (read by :mod:`domainemb.synth.corpus`, the one reader of documents):

* Markdown and HTML: each heading heads the text up to the next heading (of any level); text before
  the first heading is headed by the document's title (HTML ``<title>``), if it has one.
* JSONL with a ``title`` (what ``domainemb export-corpus`` writes for a textbook: one paragraph per
  line, titled with the heading it sits under): the title heads the whole record.
* Plain text, PDF and untitled JSONL (MAEC's transcript windows) have no headings: their chunks stay
  in the retrieval pool (negatives, consistency) but give no pair.

A section is cut into chunks like any document (:func:`section_chunks`), never across a heading, and
the heading line itself is not part of any chunk. Then :func:`select_sections` keeps the chunks
that make a usable pair, counting every drop for the run card:

========================  ===================================================================
``heading-missing``       the chunk lies under no heading
``heading-too-short``     fewer than :attr:`StructureRules.min_heading_letters` letters (after
                          leading numbers such as ``2.3`` are cut)
``heading-too-long``      more words than a short query may have (``generate.BOUNDS``)
``heading-generic``       a heading that says nothing about its text (:data:`GENERIC_HEADINGS`,
                          :data:`GENERIC_PATTERNS`: "Summary", "Review Questions", "Figure 3")
``heading-copied``        the passage's first sentence copies the heading (word-trigram share
                          above ``max_copy_ratio``, or the whole heading of 4+ words verbatim)
``passage-too-short``     fewer than :attr:`StructureRules.min_passage_words` words
``heading-duplicate``     a heading already used by an earlier chunk: only the first passage under
                          a heading (the one it introduces, in reading order) is kept, since synth
                          keeps one pair per query anyway
========================  ===================================================================

Example:
    >>> chunks = section_chunks(read_corpus("notes/").documents, size=160, overlap=32)
    >>> selection = select_sections(chunks, config)
    >>> selection.drops["heading-generic"]
    3
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from domainemb.errors import DomainembError
from domainemb.pairs import Pair
from domainemb.synth.config import PairKind, SynthConfig
from domainemb.synth.corpus import Chunk, Document, chunk_document
from domainemb.synth.generate import BOUNDS, ItemFailed, WorkItem, _pair, sentences
from domainemb.synth.text import copy_ratio, normalise

log = logging.getLogger(__name__)

#: Headings that name a part of a book, not what its text is about (compared after :func:`normalise`,
#: so case and punctuation do not matter). OpenStax's end-of-chapter blocks are most of them.
GENERIC_HEADINGS: frozenset[str] = frozenset(
    normalise(h)
    for h in (
        "Abstract",
        "Acknowledgements",
        "Acknowledgments",
        "Additional Problems",
        "Answer",
        "Answers",
        "Answer Key",
        "Appendix",
        "Application Problems",
        "Assessment Questions",
        "Background",
        "Bibliography",
        "Case Study",
        "Chapter Outline",
        "Chapter Review",
        "Chapter Summary",
        "Check Your Learning",
        "Check Your Understanding",
        "Clinical Focus",
        "Conclusion",
        "Conclusions",
        "Concept Check",
        "Contents",
        "Critical Thinking",
        "Critical Thinking Questions",
        "Discussion",
        "Discussion Questions",
        "Example",
        "Examples",
        "Exercise",
        "Exercises",
        "Fill in the Blank",
        "Further Reading",
        "Glossary",
        "Homework",
        "Index",
        "Introduction",
        "Key Concepts",
        "Key Concepts and Summary",
        "Key Equations",
        "Key Terms",
        "Learning Objectives",
        "Learning Outcomes",
        "Link to Learning",
        "Matching",
        "Multiple Choice",
        "Notes",
        "Objectives",
        "Overview",
        "Practice Problems",
        "Preface",
        "Problem",
        "Problems",
        "Problem Set A",
        "Problem Set B",
        "Exercise Set A",
        "Exercise Set B",
        "Questions",
        "References",
        "Review",
        "Review Questions",
        "Section Summary",
        "Short Answer",
        "Solution",
        "Solutions",
        "Strategy",
        "Summary",
        "Table of Contents",
        "Thought Provokers",
        "Think It Through",
        "True/False",
        "Try It",
        "Visual Connection",
        "Why This Chapter?",
        "Your Turn",
    )
)
#: Generic headings by shape, matched in full against the normalised heading: a bare label and number
#: ("Figure 3.2" -> "figure 3 2", "Chapter IV", "Example 12a").
GENERIC_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"(?:chapter|section|part|unit|module|lesson|appendix|figure|fig|table|example|exercise|problem|question"
        r"|step|case|solution|answer|page|item|equation|eq)( [0-9ivxlc]+[a-z]?)+"
    ),
)
#: Section numbering in front of a heading ("2.3 ", "Chapter 4: ", "IV. "): cut before the heading is used.
_NUMBERING = re.compile(
    r"^\s*(?:(?:chapter|section|part|unit|module|lesson)\s+)?(?:\d+(?:\.\d+)*\.?|[IVXLC]+[.:])(?:\s*[:.\-–—)])?\s+",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class StructureRules:
    """What makes a heading -> passage pair usable (the defaults are what ``synth`` applies).

    Args:
        min_heading_letters: Fewer letters than this is not a query ("4.2", "A1").
        min_passage_words: Fewer whitespace words than this is not a passage.
        generic: Normalised headings that say nothing about their text.
        generic_patterns: Shapes of such headings (a bare label and number).
    """

    min_heading_letters: int = 3
    min_passage_words: int = 12
    generic: frozenset[str] = GENERIC_HEADINGS
    generic_patterns: tuple[re.Pattern[str], ...] = GENERIC_PATTERNS


DEFAULT_RULES = StructureRules()


@dataclass(frozen=True)
class Selection:
    """The chunks that make a structure pair, in corpus order, and how many of the others were dropped, by reason."""

    chunks: list[Chunk]
    drops: dict[str, int] = field(default_factory=dict)


#: Every reason :func:`select_sections` counts, in the card's order.
DROP_REASONS = (
    "heading-missing",
    "heading-too-short",
    "heading-too-long",
    "heading-generic",
    "heading-copied",
    "passage-too-short",
    "heading-duplicate",
)


def clean_heading(heading: str) -> str:
    """The heading as a query: whitespace collapsed, leading section numbering and a trailing colon cut."""
    return _NUMBERING.sub("", " ".join(heading.split()), count=1).rstrip(" :")


def section_chunks(docs: list[Document], size: int = 160, overlap: int = 32) -> list[Chunk]:
    """Cut each document's sections into chunks, each carrying its section's heading.

    A section's text (heading line excluded) is chunked as :func:`~domainemb.synth.corpus.chunk_document`
    chunks a document; offsets stay those of the document, and chunk ids run over the whole
    document (``<doc id>#<n>``). A document without headings is chunked as
    :func:`~domainemb.synth.corpus.chunk_corpus` would, its title (if any) as the heading.
    """
    out: list[Chunk] = []
    for doc in docs:
        n = 0
        for heading, start, end in _sections(doc):
            body = doc.text[start:end]
            lead = len(body) - len(body.lstrip())
            body = body.strip()
            if not body:
                continue
            for c in chunk_document(Document(doc.id, body), size, overlap):
                first = start + lead + c.start
                out.append(Chunk(f"{doc.id}#{n}", doc.id, n, first, first + len(c.text), c.text, heading))
                n += 1
    return out


def _sections(doc: Document) -> list[tuple[str, int, int]]:
    """(heading, start, end) of each stretch of ``doc.text`` under one heading, in order."""
    bounds = [(doc.title, 0, 0), *((doc.text[s:e], s, e) for s, e in doc.headings)]
    ends = [s for _, s, _ in bounds[1:]] + [len(doc.text)]
    return [(" ".join(h.split()), body_start, end) for (h, _, body_start), end in zip(bounds, ends)]


def drop_reason(chunk: Chunk, config: SynthConfig, rules: StructureRules = DEFAULT_RULES) -> str | None:
    """Why ``chunk`` makes no structure pair (one of :data:`DROP_REASONS` but ``heading-duplicate``), else None."""
    if not chunk.heading.strip():
        return "heading-missing"
    heading = clean_heading(chunk.heading)
    if len(_LETTER.findall(heading)) < rules.min_heading_letters:
        return "heading-too-short"
    if len(heading.split()) > BOUNDS[PairKind.SHORT_LONG]["query"][1]:
        return "heading-too-long"
    norm = normalise(heading)
    if norm in rules.generic or any(p.fullmatch(norm) for p in rules.generic_patterns):
        return "heading-generic"
    first = next(iter(sentences(chunk.text)), "")
    if copy_ratio(heading, first) > config.max_copy_ratio or (len(norm.split()) >= 4 and norm in normalise(first)):
        return "heading-copied"
    if len(chunk.text.split()) < rules.min_passage_words:
        return "passage-too-short"
    return None


def select_sections(chunks: list[Chunk], config: SynthConfig, rules: StructureRules = DEFAULT_RULES) -> Selection:
    """The chunks that make a structure pair (see the module docstring for the rules), with drop counts.

    Raises:
        DomainembError: when no chunk is left (a corpus without headings, such as MAEC's transcripts).
    """
    drops: Counter = Counter()
    kept: list[Chunk] = []
    used: set[str] = set()
    for chunk in chunks:
        reason = drop_reason(chunk, config, rules)
        if reason is None:
            norm = normalise(clean_heading(chunk.heading))
            if norm in used:
                reason = "heading-duplicate"
            else:
                used.add(norm)
                kept.append(chunk)
                continue
        drops[reason] += 1
    counts = {r: drops[r] for r in DROP_REASONS}
    log.info("structure: %d of %d chunks under a usable heading (%s)", len(kept), len(chunks), counts)
    if not kept:
        why = ", ".join(f"{k}={v}" for k, v in counts.items() if v)
        raise DomainembError(
            f"{config.corpus}: no passage under a usable heading for the structure generator ({why}); it needs "
            "Markdown # headings, HTML h1-h6 or JSONL titles (as export-corpus writes for textbooks)"
        )
    return Selection(kept, counts)


def structure_pair(item: WorkItem, seed: int) -> Pair:
    """The chunk's heading (numbering cut) as the query, the chunk as the positive.

    ``seed`` is unused (nothing is sampled); it keeps the signature of the other LLM-free generators.

    Raises:
        ItemFailed: ``heading-missing`` for a chunk not cut by :func:`section_chunks` under a heading.
    """
    heading = clean_heading(item.chunk.heading)
    if not heading:
        raise ItemFailed("heading-missing", "the structure generator needs a chunk under a heading")
    return _pair(item, heading, item.chunk.text, None)
