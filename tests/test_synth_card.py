"""The synth run card: typed, read back exactly as written, and a wrong format is refused."""

from __future__ import annotations

import json

import pytest

from domainemb.synth_card import SYNTH_CARD_FORMAT, LlmUsage, SynthCard

#: A card as synth writes it (an ICT run: the LLM fields are absent).
CARD = {
    "format": SYNTH_CARD_FORMAT,
    "counts": {
        "pairs": 48,
        "by_persona": {"(none)": 48},
        "by_kind": {"short-long": 48},
        "by_generator": {"ict": 48},
        "with_negatives": 40,
    },
    "drops": {"test-documents": 0, "contaminated-chunks": 1, "dedup": 2},
    "failed": {"total": 0, "by_reason": {}},
    "items": {"planned": 50, "generated": 50, "resumed": 0},
    "tokens": {"prompt": 0, "completion": 0},
    "cost_usd": None,
    "wall_time_s": 1.5,
    "llm": {},
    "corpus": {
        "path": "docs/",
        "fingerprint": "ab" * 32,
        "documents": 12,
        "training_chunks": 50,
        "skipped_files": {"empty": 1},
        "bad_jsonl_lines": 0,
    },
    "decontamination": {"against": ["work/benchmarks/finance-lite"], "test_texts": 300, "ngram": 13},
    "config": {"generator": "ict", "domain": "finance", "llm_model": None},
    "kinds": ["short-long"],
    "domainemb_version": "0.1.0",
}


def test_a_card_reads_back_as_written():
    card = SynthCard.from_dict(json.loads(json.dumps(CARD)))
    assert card.counts.by_generator == {"ict": 48} and card.decontamination.against == ("work/benchmarks/finance-lite",)
    assert json.dumps(card.to_dict()) == json.dumps(CARD)  # same keys, same order


def test_llm_fields_are_written_only_when_recorded():
    usage = {"llm_model": "m", "prompt_style": "chat", "local_server": False, "requests": 9, "retries": {"timeout": 1}}
    card = SynthCard.from_dict({**CARD, "llm": usage})
    assert card.llm.local_server is False and card.to_dict()["llm"] == usage
    assert LlmUsage(llm_model="m").to_dict() == {"llm_model": "m"}


def test_a_card_from_before_the_format_key_reads():
    old = {k: v for k, v in CARD.items() if k != "format"}
    assert SynthCard.from_dict(old) == SynthCard.from_dict(CARD)


@pytest.mark.parametrize("data", [{**CARD, "format": "domainemb-synth-card/2"}, ["a list"]])
def test_another_format_is_refused(data):
    with pytest.raises(ValueError, match="not a synth card"):
        SynthCard.from_dict(data)


def test_a_card_missing_a_field_is_refused():
    with pytest.raises(KeyError):
        SynthCard.from_dict({k: v for k, v in CARD.items() if k != "corpus"})


def test_the_card_beside_a_pairs_file_reads_typed(tmp_path, caplog):
    from domainemb.pairs import card_path, read_card

    pairs = tmp_path / "fin.jsonl"
    card_path(pairs).write_text(json.dumps(CARD), encoding="utf-8")
    assert read_card(pairs) == SynthCard.from_dict(CARD)
    card_path(pairs).write_text(json.dumps({**CARD, "format": "something-else"}), encoding="utf-8")
    assert read_card(pairs) is None and "unreadable synth card" in caplog.text
