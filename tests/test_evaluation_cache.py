"""The embedding cache: exact keys, crash safety, one encoding per text, warm runs with no forward pass."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from datasets import Dataset
from evaluation_data import KeywordEncoder
from torch.utils.data import DataLoader

from domainemb.domains.benchmark import Benchmark
from domainemb.evaluation.cache import CachedModel, EmbeddingCache
from domainemb.evaluation.mteb_tasks import task_metadata
from domainemb.evaluation.run import EvaluateConfig, evaluate


def test_vectors_round_trip_under_exact_keys(tmp_path):
    rng = np.random.default_rng(0)
    texts = ["Interest rates rose.", "Interest rates rose. ", "interest rates rose.", "Zinsen stiegen – ünïcode ✓"]
    vectors = rng.standard_normal((4, 8)).astype(np.float32)
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        cache.put("model-a", "query|", texts, vectors)
        got = cache.get("model-a", "query|", [*reversed(texts), "never stored"])
        assert got[-1] is None
        for vector, expected in zip(got[:4], vectors[::-1]):
            assert np.array_equal(vector, expected)  # bit-exact float32
        # Another model, or another prompt, is another key.
        assert cache.get("model-b", "query|", texts) == [None] * 4
        assert cache.get("model-a", "document|", texts) == [None] * 4
    with EmbeddingCache(tmp_path / "c.sqlite") as reopened:
        assert reopened.count("model-a") == 4


def test_a_killed_writer_loses_only_the_batch_in_flight(tmp_path):
    """SIGKILL in the middle of a batch: earlier batches survive, the file stays sound, no half batch."""
    db = tmp_path / "c.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from domainemb.evaluation import cache as c
        store = c.EmbeddingCache({str(db)!r})
        for batch in range(3):
            texts = [f"text {{batch}} {{i}}" for i in range(100)]
            store.put("m", "none|", texts, np.ones((100, 16), dtype=np.float32) * batch)
        # the fourth batch is killed after half its rows are written, inside its transaction
        store._db.execute("BEGIN IMMEDIATE")
        for i in range(50):
            store._db.execute("INSERT INTO embeddings VALUES (?, ?, ?, ?, ?)",
                              ("m", "none|", c._text_key(f"text 3 {{i}}"), 16, np.ones(16, dtype=np.float32).tobytes()))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()

    with EmbeddingCache(db) as cache:
        assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert cache.count("m") == 300
        assert cache.get("m", "none|", ["text 3 0"]) == [None]
        assert np.array_equal(cache.get("m", "none|", ["text 2 99"])[0], np.full(16, 2, dtype=np.float32))


def test_a_writer_killed_inside_put_leaves_no_half_batch(tmp_path):
    """The real writer: SIGKILL from inside ``put``'s own INSERTs (a sqlite progress handler), after some
    rows of the fourth batch went in. Only a transaction around the whole batch keeps them out."""
    db = tmp_path / "c.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np
        from domainemb.evaluation import cache as c
        store = c.EmbeddingCache({str(db)!r})
        for batch in range(3):
            store.put("m", "none|", [f"text {{batch}} {{i}}" for i in range(100)], np.full((100, 16), batch, "f4"))
        calls = 0

        def kill_midway():
            global calls
            calls += 1
            if calls == 40:  # well inside the batch's 100 INSERTs
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        store._db.set_progress_handler(kill_midway, 20)
        store.put("m", "none|", [f"text 3 {{i}}" for i in range(100)], np.full((100, 16), 3, "f4"))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()

    with EmbeddingCache(db) as cache:
        assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert cache.count("m") == 300
        assert cache.get("m", "none|", ["text 3 0"]) == [None]


def _loader(texts: list[str]) -> DataLoader:
    return DataLoader(Dataset.from_dict({"text": texts}), batch_size=4)


def test_a_text_in_several_tasks_is_encoded_once(tiny_benchmark, tmp_path):
    bench = Benchmark.open(tiny_benchmark)
    encoder = KeywordEncoder()
    with EmbeddingCache(tmp_path / "c.sqlite") as cache:
        model = CachedModel(encoder.mteb_model(), cache, encoder.fingerprint, batch_texts=3)
        shared = ["Inflation drove the rate hike.", "The catalyst shaped the reaction.", "Net income rose."]
        first = model.encode(
            _loader([*shared, shared[0]]),
            task_metadata=task_metadata(bench.task("TinySTS")),
            hf_split="test",
            hf_subset="default",
        )
        assert encoder.texts_seen == 3  # the repeated text too is encoded once
        second = model.encode(
            _loader([shared[2], "The vaccine changed the symptoms.", shared[1]]),
            task_metadata=task_metadata(bench.task("TinyClustering")),
            hf_split="test",
            hf_subset="default",
        )
        assert encoder.texts_seen == 4
        assert np.array_equal(second[0], first[2]) and np.array_equal(second[2], first[1])
        assert np.array_equal(first[0], first[3])


def test_warm_rerun_of_the_whole_suite_calls_the_model_zero_times(tiny_benchmark, tmp_path):
    cache = tmp_path / "c.sqlite"
    cold_encoder = KeywordEncoder()
    cold = evaluate(
        EvaluateConfig(benchmark=tiny_benchmark, models=("keywords",), out=tmp_path / "cold", cache=cache),
        encoders={"keywords": cold_encoder},
    )
    assert cold_encoder.calls > 0 and cold.cache.stored > 0

    warm_encoder = KeywordEncoder()
    warm = evaluate(
        EvaluateConfig(benchmark=tiny_benchmark, models=("keywords",), out=tmp_path / "warm", cache=cache),
        encoders={"keywords": warm_encoder},
    )
    assert warm_encoder.calls == 0 and warm.cache.stored == 0 and warm.cache.hits > 0
    assert [s.main_score for s in warm.scores] == pytest.approx([s.main_score for s in cold.scores], abs=1e-9)


def test_cache_file_is_sqlite_in_wal_mode(tmp_path):
    with EmbeddingCache(tmp_path / "c.sqlite"):
        pass
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_default_location_follows_domainemb_cache(monkeypatch, tmp_path):
    from domainemb.evaluation.cache import default_cache_path

    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "embeddings.sqlite"


@pytest.mark.slow
def test_warm_rerun_with_the_real_model_does_no_forward_pass(tiny_benchmark, tmp_path):
    """The real thing behind the seam: count minilm's forward passes with a hook."""
    from domainemb.evaluation.packaged import minilm

    encoder = minilm()
    forwards = []
    encoder.model.register_forward_pre_hook(lambda module, args: forwards.append(1))
    config = EvaluateConfig(
        benchmark=tiny_benchmark,
        models=("minilm",),
        tasks=("TinySTS", "TinyRetrieval", "TinyClassification"),
        out=tmp_path / "cold",
        cache=tmp_path / "c.sqlite",
    )
    cold = evaluate(config, encoders={"minilm": encoder})
    assert forwards, "the cold run encodes"
    forwards.clear()
    warm = evaluate(EvaluateConfig(**{**config.__dict__, "out": tmp_path / "warm"}), encoders={"minilm": encoder})
    assert forwards == []
    assert [s.main_score for s in warm.scores] == pytest.approx([s.main_score for s in cold.scores], abs=1e-9)
