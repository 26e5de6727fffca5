"""Read a folder of documents and cut them into overlapping token chunks.

Supported files: ``.txt``, ``.md``/``.markdown``, ``.html``/``.htm``, ``.jsonl`` (one document per
line with a ``text`` field and optional ``id`` and ``title``) and ``.pdf`` (text layer, via pypdf).
A file that cannot be used (unreadable, empty, binary, not UTF-8, unsupported type, broken PDF) is
skipped with a warning naming it and the reason; the run carries on and the skips are counted.
Files and folders whose names start with ``.`` are ignored (tool metadata such as ``.export.json``).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from domainemb.errors import DomainembError
from domainemb.synth.text import normalise, spans, stable_hash

log = logging.getLogger(__name__)

SUFFIXES = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".jsonl": "jsonl",
    ".pdf": "pdf",
}


@dataclass(frozen=True)
class Document:
    """One source document.

    Args:
        id: Stable id: the file's path relative to the corpus folder, plus ``:<id or line>`` for JSONL records.
        text: Its full text.
        title: Title when the format carries one (JSONL ``title``, HTML ``<title>``), else "".
        headings: ``(start, end)`` character spans of its heading lines in ``text``, in order: Markdown
            ``#`` headings and HTML ``h1``-``h6`` (each is a line of its own); empty for other formats.
    """

    id: str
    text: str
    title: str = ""
    headings: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A slice ``document.text[start:end]`` of about ``size`` whitespace tokens.

    Args:
        id: ``<doc id>#<index>``.
        doc_id: The document it comes from.
        index: Its position among the document's chunks.
        start, end: Character offsets into the document text.
        text: The slice itself.
        heading: The heading of the section the chunk lies in, when it was cut from one section
            (:func:`domainemb.synth.structure.section_chunks`), else "".
    """

    id: str
    doc_id: str
    index: int
    start: int
    end: int
    text: str
    heading: str = ""


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class Corpus:
    """The documents read from a folder, with the files that were skipped and why."""

    root: Path
    documents: list[Document] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    files_read: int = 0
    bad_lines: int = 0

    @property
    def skip_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s.reason.split(":")[0] for s in self.skipped).items()))

    @property
    def fingerprint(self) -> str:
        """sha256 over document ids and texts: which corpus a run used."""
        return stable_hash(*((d.id, d.text) for d in self.documents))


def read_corpus(root: Path | str) -> Corpus:
    """Read every supported file under ``root`` (recursively, in sorted path order).

    Raises:
        DomainembError: when ``root`` is not a folder or no usable document is found in it.
    """
    root = Path(root)
    if not root.is_dir():
        raise DomainembError(f"{root}: corpus is not a folder")
    corpus = Corpus(root=root)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            docs = _read_file(path, rel.as_posix(), corpus)
        except _Skip as skip:
            corpus.skipped.append(Skipped(rel.as_posix(), str(skip)))
            log.warning("skipping %s: %s", rel.as_posix(), skip)
            continue
        corpus.files_read += 1
        corpus.documents.extend(docs)
    if corpus.skipped:
        counts = ", ".join(f"{k}: {v}" for k, v in corpus.skip_counts.items())
        log.warning("skipped %d of %d files (%s)", len(corpus.skipped), len(corpus.skipped) + corpus.files_read, counts)
    if not corpus.documents:
        raise DomainembError(f"{root}: no usable document (supported: {', '.join(sorted(SUFFIXES))})")
    return corpus


class _Skip(Exception):
    """A file the run cannot use; the message is the reason shown to the user."""


def _read_file(path: Path, rel: str, corpus: Corpus) -> list[Document]:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise _Skip(f"unsupported: file type {path.suffix or '(none)'}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Skip(f"unreadable: {exc.strerror or exc}") from None
    if not data.strip():
        raise _Skip("empty: no text")
    if kind == "pdf":
        return _nonempty([Document(rel, _pdf_text(data))])
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _Skip("encoding: UTF-16 text (save it as UTF-8)")
    if b"\x00" in data[:8192]:
        raise _Skip("binary: NUL bytes in a text file")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise _Skip(f"encoding: not valid UTF-8 (byte {exc.start})") from None
    if kind == "jsonl":
        return _nonempty(_jsonl_documents(text, rel, corpus))
    if kind == "html":
        title, body, headings = _html_text(text)
        return _nonempty([Document(rel, body, title, _heading_spans(body, headings))])
    if kind == "markdown":
        headings = _markdown_headings(text)
        text = _markdown_text(text)
        return _nonempty([Document(rel, text, headings=_heading_spans(text, headings))])
    return _nonempty([Document(rel, text)])


def _nonempty(docs: list[Document]) -> list[Document]:
    docs = [d for d in docs if d.text.strip()]
    if not docs:
        raise _Skip("empty: no text")
    return docs


def _jsonl_documents(text: str, rel: str, corpus: Corpus) -> list[Document]:
    docs, seen = [], set()
    for lineno, line in enumerate(
        text.split("\n"), start=1
    ):  # not splitlines(): U+0085 and U+2028 may sit inside a record
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            corpus.bad_lines += 1
            log.warning("%s line %d: not a JSON object with a string 'text'; line skipped", rel, lineno)
            continue
        local = str(record.get("id", lineno))
        if local in seen:
            corpus.bad_lines += 1
            log.warning("%s line %d: duplicate id %r; line skipped", rel, lineno, local)
            continue
        seen.add(local)
        docs.append(Document(f"{rel}:{local}", record["text"], str(record.get("title") or "")))
    return docs


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _Skip("unreadable: encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except _Skip:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:  # pypdf raises several types on damaged files
        raise _Skip(f"unreadable: broken PDF ({type(exc).__name__})") from None
    return "\n\n".join(p.strip() for p in pages if p.strip())


class _HTMLText(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "table"}
    _HIDDEN = {"script", "style", "noscript", "template", "head"}
    _HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        if tag in self._HEADINGS and not self._hidden:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")
        if tag in self._HEADINGS and self._heading is not None:
            self.headings.append(" ".join("".join(self._heading).split()))
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)
            if self._heading is not None:
                self._heading.append(data)


def _html_text(text: str) -> tuple[str, str, list[str]]:
    """(title, body text, heading texts in order)."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    body = re.sub(r"[ \t]*\n\s*", "\n", "".join(parser.parts))
    return " ".join("".join(parser.title).split()), re.sub(r"[ \t]+", " ", body).strip(), parser.headings


def _markdown_text(text: str) -> str:
    """Keep the prose of Markdown: drop images, keep link texts, strip heading and emphasis marks."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)
    return re.sub(r"(\*\*|__|`)", "", text)


_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _markdown_headings(text: str) -> list[str]:
    """The texts of the ATX headings (``# Title``) of Markdown source, in order, outside fenced code."""
    headings, fenced = [], False
    for line in text.splitlines():
        if _MD_FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _MD_HEADING.match(line)):
            heading = " ".join(_markdown_text(m.group(1)).split())
            if heading:
                headings.append(heading)
    return headings


def _heading_spans(text: str, headings: list[str]) -> tuple[tuple[int, int], ...]:
    """Spans of the lines of ``text`` that are the given headings, matched in order.

    A heading whose line is not found (markup that split it over lines) is left out; the rest still match.
    """
    lines = [(m.start(), m.end(), normalise(m.group())) for m in re.finditer(r"[^\n]+", text)]
    spans_, at = [], 0
    for heading in headings:
        want = normalise(heading)
        for i in range(at, len(lines)):
            if want and lines[i][2] == want:
                start, end = lines[i][0], lines[i][1]
                spans_.append((start + len(text[start:end]) - len(text[start:end].lstrip()), end))
                at = i + 1
                break
    return tuple(spans_)


# ----------------------------------------------------------------------------- chunking
def chunk_document(doc: Document, size: int = 160, overlap: int = 32) -> list[Chunk]:
    """Cut a document into chunks of ``size`` whitespace tokens, consecutive chunks sharing ``overlap`` tokens.

    The last chunk may be shorter; a document of at most ``size`` tokens is one chunk.
    """
    if size < 1 or not 0 <= overlap < size:
        raise DomainembError(f"chunking needs size >= 1 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    toks = spans(doc.text)
    chunks: list[Chunk] = []
    step = size - overlap
    for index, first in enumerate(range(0, max(len(toks) - overlap, 1), step)):
        window = toks[first : first + size]
        if not window:
            break
        start, end = window[0][0], window[-1][1]
        chunks.append(Chunk(f"{doc.id}#{index}", doc.id, index, start, end, doc.text[start:end]))
    return chunks


def chunk_corpus(docs: list[Document], size: int = 160, overlap: int = 32) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, size, overlap)]
