"""The helper set of the domain modules: one task-spec constructor, parse-once cache, seed, text id, normalisations."""

from __future__ import annotations

import hashlib
import importlib
from functools import partial

import pytest

from domainemb.domains.fetch import FetchConfig, Fetcher
from domainemb.domains.helpers import (
    SEED,
    collapse_whitespace,
    forget_parsed,
    lowercase_alphanumerics,
    parse_once,
    task_spec,
    text_id,
)
from domainemb.domains.readers import SourceFiles
from domainemb.domains.splits import HALVES_NOTE
from domainemb.types import Domain, LicenceFlag, Source, SourceFile, TaskType


def _source(tmp_path, text: bytes) -> tuple[Source, SourceFiles]:
    folder = tmp_path / "mirror" / "finance" / "toy"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(text)
    (folder / "b.txt").write_bytes(text.upper())
    source = Source(
        key="finance/toy",
        repo="https://github.com/x/y",
        commit="0" * 40,
        files=(
            SourceFile("a.txt", hashlib.sha256(text).hexdigest()),
            SourceFile("b.txt", hashlib.sha256(text.upper()).hexdigest()),
        ),
        licence="CC0",
        licence_flag=LicenceFlag.OPEN,
        citation="toy",
    )
    return source, SourceFiles(Fetcher(FetchConfig(mirror=tmp_path / "mirror", cache=tmp_path / "cache")))


def test_parse_once_parses_each_set_of_files_once(tmp_path):
    source, files = _source(tmp_path, b"one\ntwo\n")
    calls: list[tuple[str, ...]] = []

    @parse_once
    def lines(files: SourceFiles, src: Source, *names: str) -> list[str]:
        calls.append(names)
        return [ln for name in names for ln in files.lines(src, name)]

    assert lines(files, source, "a.txt") == ["one", "two"]
    again = SourceFiles(Fetcher(FetchConfig(mirror=tmp_path / "mirror", cache=tmp_path / "cache")))
    assert lines(again, source, "a.txt") == ["one", "two"]  # same verified file: reused
    assert lines(files, source, "a.txt", "b.txt") == ["one", "two", "ONE", "TWO"]  # other files: parsed
    assert calls == [("a.txt",), ("a.txt", "b.txt")]
    assert lines.__name__ == "lines"
    forget_parsed()
    lines(files, source, "a.txt")
    assert calls[-1] == ("a.txt",) and len(calls) == 3


def test_parse_once_keeps_parsers_apart(tmp_path):
    source, files = _source(tmp_path, b"x\n")
    first = parse_once(lambda files, src, name: ("first", name))
    second = parse_once(lambda files, src, name: ("second", name))
    assert first(files, source, "a.txt") == ("first", "a.txt")
    assert second(files, source, "a.txt") == ("second", "a.txt")


def test_task_spec_binds_the_suite():
    source = Source("finance/toy", "https://github.com/x/y", "0" * 40, (), "CC0", LicenceFlag.OPEN, "toy")
    task = partial(task_spec, Domain.FINANCE)
    spec = task("ToySTS", TaskType.STS, "A toy.", (source,), lambda files: {}, min_score=0.0, max_score=5.0)
    assert (spec.domain, spec.name, spec.type, spec.sources) == (Domain.FINANCE, "ToySTS", TaskType.STS, (source,))
    assert (spec.min_score, spec.max_score, spec.annotations, spec.main_score) == (
        0.0,
        5.0,
        "human-annotated",
        "cosine_spearman",
    )
    with pytest.raises(TypeError):
        task("Toy", TaskType.STS, "A toy.", (source,), lambda files: {}, unknown_field=1)


def test_text_id_is_the_sha1_prefix():
    assert text_id("aspirin") == hashlib.sha1(b"aspirin").hexdigest()[:16]
    assert text_id("aspirin") == text_id("aspirin") != text_id("Aspirin")


def test_the_two_normalisations_do_different_things():
    text = "  Sodium\n\tsulfate,  (anhydrous)  "
    assert collapse_whitespace(text) == "Sodium sulfate, (anhydrous)"
    assert lowercase_alphanumerics(text) == "sodiumsulfateanhydrous"
    assert lowercase_alphanumerics("ｆｕｒｆｕｒａｌ Ⅱ") == "furfuralii"  # NFKC first


def test_one_seed_for_every_suite():
    assert SEED == 42 and f"random.Random({SEED})" in HALVES_NOTE
    for module in ("finance", "chemistry", "medicine", "general", "openstax", "splits"):
        mod = importlib.import_module(f"domainemb.domains.{module}")
        assert not hasattr(mod, "_SEED"), module  # no suite keeps a seed of its own
