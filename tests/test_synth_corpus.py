"""Corpus ingestion (every format, every kind of bad file) and token chunking."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from synth_data import minimal_pdf

from domainemb.errors import DomainembError
from domainemb.synth.corpus import Document, chunk_document, read_corpus


@pytest.fixture()
def mixed(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("Plain text about revenue growth.", encoding="utf-8")
    (root / "b.md").write_text(
        "# Title\n\nSee [the report](http://x.org) and ![chart](c.png) **now**.", encoding="utf-8"
    )
    (root / "sub" / "c.html").write_text(
        "<html><head><title>Liquidity</title><style>p{}</style></head><body><p>Current ratio.</p><script>x()</script><p>Quick ratio.</p></body></html>",
        encoding="utf-8",
    )
    lines = [
        json.dumps({"id": "r1", "text": "First record.", "title": "One"}),
        "{broken",
        json.dumps({"text": "Second record\u0085with a next-line character."}, ensure_ascii=False),
        json.dumps({"id": "r1", "text": "dup"}),
    ]
    (root / "d.jsonl").write_text("\n".join(lines), encoding="utf-8")
    (root / "e.pdf").write_bytes(minimal_pdf("Credit risk is measured with default probabilities."))
    # bad files: each is skipped with a named reason
    (root / "empty.txt").write_text("   \n", encoding="utf-8")
    (root / "binary.txt").write_bytes(b"abc\x00\x01\x02def")
    (root / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "utf16.txt").write_bytes("hello".encode("utf-16"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (root / "image.png").write_bytes(b"\x89PNG\r\n")
    (root / ".hidden.txt").write_text("ignored", encoding="utf-8")
    return root


def test_reads_every_format_and_counts_bad_files(mixed, caplog):
    with caplog.at_level(logging.WARNING, logger="domainemb.synth.corpus"):
        corpus = read_corpus(mixed)
    docs = {d.id: d for d in corpus.documents}
    assert sorted(docs) == ["a.txt", "b.md", "d.jsonl:3", "d.jsonl:r1", "e.pdf", "sub/c.html"]
    assert docs["b.md"].text.strip() == "Title\n\nSee the report and  now."
    assert docs["sub/c.html"].title == "Liquidity"
    assert "x()" not in docs["sub/c.html"].text and "p{}" not in docs["sub/c.html"].text
    assert docs["sub/c.html"].text == "Current ratio.\nQuick ratio."
    assert docs["d.jsonl:r1"].title == "One"
    assert docs["d.jsonl:3"].text == "Second record\u0085with a next-line character."
    assert "default probabilities" in docs["e.pdf"].text
    assert corpus.bad_lines == 2  # the broken line and the duplicate id
    reasons = {s.path: s.reason.split(":")[0] for s in corpus.skipped}
    assert reasons == {
        "empty.txt": "empty",
        "binary.txt": "binary",
        "latin1.txt": "encoding",
        "utf16.txt": "encoding",
        "broken.pdf": "unreadable",
        "image.png": "unsupported",
    }
    assert corpus.skip_counts == {"binary": 1, "empty": 1, "encoding": 2, "unreadable": 1, "unsupported": 1}
    for path in reasons:  # every skip is named in a warning
        assert any(path in r.getMessage() for r in caplog.records)
    assert "skipped 6 of" in caplog.text


def test_unreadable_file_is_skipped_not_fatal(mixed, monkeypatch):
    (mixed / "locked.txt").write_text("secret", encoding="utf-8")
    real = Path.read_bytes

    def read_bytes(self):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    corpus = read_corpus(mixed)
    assert any(s.path == "locked.txt" and s.reason == "unreadable: Permission denied" for s in corpus.skipped)
    assert len(corpus.documents) == 6


def test_empty_or_missing_corpus_is_a_user_error(tmp_path):
    with pytest.raises(DomainembError, match="not a folder"):
        read_corpus(tmp_path / "nope")
    (tmp_path / "only.bin").write_bytes(b"\x00")
    with pytest.raises(DomainembError, match="no usable document"):
        read_corpus(tmp_path)


def test_chunks_are_exact_slices_with_overlap():
    text = " ".join(f"w{i}" for i in range(100)) + "\n\n  tail  words"
    doc = Document("doc", text)
    chunks = chunk_document(doc, size=30, overlap=10)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.id == f"doc#{c.index}" and c.doc_id == "doc"
    sizes = [len(c.text.split()) for c in chunks]
    assert sizes[:-1] == [30] * (len(chunks) - 1)
    # consecutive chunks share exactly `overlap` tokens, and together they cover every token
    for a, b in zip(chunks, chunks[1:]):
        assert a.text.split()[-10:] == b.text.split()[:10]
    covered = chunks[0].text.split() + [t for c in chunks[1:] for t in c.text.split()[10:]]
    assert covered == text.split()


def test_short_document_is_one_chunk_and_bad_sizes_are_rejected():
    assert [c.text for c in chunk_document(Document("d", "only a few words"), size=30, overlap=10)] == [
        "only a few words"
    ]
    with pytest.raises(DomainembError):
        chunk_document(Document("d", "x"), size=10, overlap=10)
