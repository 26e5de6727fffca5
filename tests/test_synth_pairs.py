"""The pairs file contract as synth writes it (``read_pairs(strict=True)``) and the append-only log behind resumption."""

from __future__ import annotations

import dataclasses
import json

import pytest

from domainemb.errors import DataError
from domainemb.pairs import Generator, Pair, PairKind, card_path, read_card, read_pairs, write_pairs
from domainemb.synth.pairs import AppendLog, pair_key

PAIR = Pair(
    key="k1",
    query="what drove revenue",
    positive="Revenue rose on services.",
    negatives=("Costs fell.",),
    persona="retail-investor",
    kind=PairKind.SHORT_LONG,
    doc_id="a.txt",
    chunk_id="a.txt#0",
    generator=Generator.LLM,
    llm_model="m",
    template_hash="abc",
)
SCHEMA_KEYS = {
    "key",
    "query",
    "positive",
    "negatives",
    "persona",
    "kind",
    "doc_id",
    "chunk_id",
    "generator",
    "llm_model",
    "template_hash",
}


def test_roundtrip_and_schema(tmp_path):
    path = tmp_path / "pairs.jsonl"
    other = Pair(
        **{
            **PAIR.__dict__,
            "key": "k2",
            "negatives": (),
            "persona": None,
            "llm_model": None,
            "template_hash": None,
            "generator": Generator.ICT,
        }
    )
    write_pairs(path, [PAIR, other])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert (
        set(records[0]) == SCHEMA_KEYS
        and records[0]["kind"] == "short-long"
        and records[0]["negatives"] == ["Costs fell."]
    )
    assert read_pairs(path, strict=True).pairs == (PAIR, other)
    # extra fields (the raw log's attributes and usage) are ignored by readers
    with open(path, "a") as fh:
        fh.write(json.dumps({**records[0], "key": "k3", "attributes": {"clarity": "clear"}}) + "\n")
    assert read_pairs(path, strict=True).pairs[-1].key == "k3"


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{not json", "line 1: invalid JSON"),
        ('["a list"]', "line 1: not a JSON object"),
        (json.dumps({**PAIR.to_record(), "query": ""}), "'query' must be a non-empty string"),
        (json.dumps({**PAIR.to_record(), "negatives": "x"}), "'negatives' must be a list"),
        (json.dumps({**PAIR.to_record(), "kind": "qa"}), "'qa' is not a valid PairKind"),
        (json.dumps({**PAIR.to_record(), "persona": 3}), "'persona' must be a string or null"),
        (json.dumps(PAIR.to_record()) + "\n" + json.dumps(PAIR.to_record()), "line 2: duplicate key 'k1'"),
        (json.dumps({**PAIR.to_record(), "margins": [0.1] * 9}), "'margins' must be a list of finite numbers"),
        (json.dumps({**PAIR.to_record(), "margins": "0.1"}), "'margins' must be a list of finite numbers"),
        (json.dumps({**PAIR.to_record(), "margins": [True]}), "'margins' must be a list of finite numbers"),
        (json.dumps({**PAIR.to_record(), "margins": [float("nan")]}), "'margins' must be a list of finite numbers"),
    ],
)
def test_bad_lines_are_data_errors(tmp_path, line, problem):
    path = tmp_path / "pairs.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=problem) as err:
        read_pairs(path, strict=True)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing file"):
        read_pairs(tmp_path / "none.jsonl", strict=True)


def test_keys_are_deterministic():
    a = pair_key("llm", "p", "short-long", "doc", 0, 10, "h", 0)
    assert a == pair_key(Generator.LLM, "p", PairKind.SHORT_LONG, "doc", 0, 10, "h", 0) and len(a) == 32
    assert a != pair_key("llm", "p", "short-long", "doc", 0, 10, "h", 1)


def test_append_log_cuts_a_torn_tail_and_resumes(tmp_path):
    path = tmp_path / "raw.jsonl"
    with AppendLog(path) as log:
        log.append({"key": "a", "v": 1})
        log.append({"key": "b", "v": 2})
    with open(path, "ab") as fh:  # what kill -9 in the middle of a write leaves
        fh.write(b'{"key": "c", "v"')
    log = AppendLog(path)
    assert log.torn == 1 and set(log.records) == {"a", "b"} and "c" not in log
    log.append({"key": "c", "v": 3})
    log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == ["a", "b", "c"]


def test_failure_log_keeps_the_latest_reason(tmp_path):
    path = tmp_path / "failed.jsonl"
    with AppendLog(path, latest=True) as log:
        log.append({"key": "a", "reason": "timeout"})
        log.append({"key": "a", "reason": "refusal"})
    assert AppendLog(path, latest=True).records["a"]["reason"] == "refusal"
    assert AppendLog(path).records["a"]["reason"] == "timeout"


def test_edited_log_is_a_data_error(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_text('{"key": "a"}\ngarbage\n{"key": "b"}\n')
    with pytest.raises(DataError, match="edited"):
        AppendLog(path)


def test_lines_never_split_on_unicode_line_breaks(tmp_path):
    """str.splitlines() splits on U+0085 and U+2028; a reader using it must still see one record per line."""
    path = tmp_path / "pairs.jsonl"
    odd = Pair(**{**PAIR.__dict__, "query": "Buy\x85now\u2028or\u2029later — café"})
    write_pairs(path, [odd])
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1 and "café" in text
    assert read_pairs(path, strict=True).pairs == (odd,)


# ----------------------------------------------------------------------------- one reader, two readings
def test_the_default_reading_keeps_synths_provenance(tmp_path):
    """adapt and prune read a synth file into the same pairs synth wrote, provenance included."""
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, [PAIR])
    (pair,) = read_pairs(path).pairs
    assert pair == PAIR and pair.kind is PairKind.SHORT_LONG and pair.generator is Generator.LLM


def test_a_hand_written_file_trains_but_is_not_synth_output(tmp_path):
    path = tmp_path / "pairs.jsonl"
    row = {"query": "q", "positive": "p", "doc_id": "d", "kind": "qa", "generator": 3, "persona": 7}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (pair,) = read_pairs(path).pairs
    assert (pair.kind, pair.generator, pair.persona, pair.key) == ("qa", None, None, None)
    with pytest.raises(DataError, match="line 1: missing field 'key'"):
        read_pairs(path, strict=True)


def test_only_the_default_reading_drops_repeats_and_refuses_an_empty_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, [PAIR, Pair(**{**PAIR.__dict__, "key": "k2"})])
    assert len(read_pairs(path, strict=True).pairs) == 2 and read_pairs(path, strict=True).duplicates == 0
    assert len(read_pairs(path).pairs) == 1 and read_pairs(path).duplicates == 1
    write_pairs(path, [])
    assert read_pairs(path, strict=True).pairs == ()
    with pytest.raises(DataError, match="no pairs"):
        read_pairs(path)


def test_written_records_are_plain_json_in_the_files_field_order(tmp_path):
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, [Pair("q", "p", (), "d"), PAIR])
    bare, full = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert list(bare) == list(full) == list(PAIR.to_record())
    assert (
        list(full)
        == "key query positive negatives persona kind doc_id chunk_id generator llm_model template_hash".split()
    )
    assert bare == {**dict.fromkeys(SCHEMA_KEYS), "query": "q", "positive": "p", "negatives": [], "doc_id": "d"}
    assert {type(PAIR.to_record()[name]) for name in ("kind", "generator")} == {str}  # not the enums
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically, nothing left beside


def test_the_card_beside_a_pairs_file(tmp_path):
    assert card_path(tmp_path / "fin.jsonl") == tmp_path / "fin.card.json"
    assert read_card(tmp_path / "fin.jsonl") is None
    card_path(tmp_path / "fin.jsonl").write_text("{not json", encoding="utf-8")
    assert read_card(tmp_path / "fin.jsonl") is None


def test_teacher_margins_round_trip_and_stay_out_of_unlabelled_files(tmp_path):
    labelled = dataclasses.replace(PAIR, key="k2", negatives=("n1", "n2"), margins=(0.25, -0.5))
    path = tmp_path / "pairs.jsonl"
    write_pairs(path, [labelled, PAIR])
    first, second = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    assert first["margins"] == [0.25, -0.5] and "margins" not in second
    assert read_pairs(path, strict=True).pairs == (labelled, PAIR)
    with pytest.raises(ValueError, match="1 margins for 2 negatives"):
        dataclasses.replace(labelled, margins=(0.1,))
