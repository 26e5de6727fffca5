"""TokenizerSettings: encoding changes the fast tokenizer's settings; restoring puts the loaded ones back."""

from __future__ import annotations

from prune_data import tokenizer_json
from sentence_transformers import SentenceTransformer

from domainemb.evaluation.tokenizer_settings import TokenizerSettings


def test_restore_puts_back_what_encoding_changed(tiny_model, tmp_path):
    folder = tiny_model(max_seq_length=16)
    model = SentenceTransformer(str(folder), device="cpu")
    loaded = TokenizerSettings.capture(model)
    model.encode(["a text longer than one token", "short"])
    model.tokenizer("x", truncation=True, max_length=7, padding="max_length")
    assert TokenizerSettings.capture(model) != loaded  # the call left its own settings behind
    model.save(str(tmp_path / "unrestored"))
    assert tokenizer_json(tmp_path / "unrestored") != tokenizer_json(folder)

    loaded.restore(model)
    assert TokenizerSettings.capture(model) == loaded
    model.save(str(tmp_path / "restored"))
    assert tokenizer_json(tmp_path / "restored") == tokenizer_json(folder)


def test_settings_are_copies():
    settings = {"max_length": 8, "strategy": "longest_first", "stride": 0, "direction": "right"}

    class Backend:
        truncation = settings
        padding = None

    class Tokenizer:
        _tokenizer = Backend()

    class Model:
        tokenizer = Tokenizer()

    captured = TokenizerSettings.capture(Model())
    settings["max_length"] = 99
    assert captured.truncation["max_length"] == 8 and captured.padding is None and captured.fast


def test_slow_tokenizer_keeps_no_state():
    class Model:
        tokenizer = object()

    settings = TokenizerSettings.capture(Model())
    assert not settings.fast
    settings.restore(Model())  # nothing to put back, no error
