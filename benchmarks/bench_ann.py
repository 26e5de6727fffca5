"""Issue 18: synth's student search over a big pool, exact (the dense score matrix) against the IVF index.

On synthetic pools of unit vectors (no model is run, so the figures are the search alone), for each pool:

* ``exact``: :class:`~domainemb.synth.ann.ExactSearch`, synth's path below ``--ann-threshold``: the
  dense scores of a block of queries against the whole pool, each row ordered by a stable sort;
* ``faiss-flat``: faiss's exact ``IndexFlatIP`` top-k, for reference;
* ``ivf``: :class:`~domainemb.synth.ann.IVFSearch` as synth builds it (seeded spherical k-means,
  ``nlist`` about 4 sqrt(pool)), calibrated on 256 of the queries; its recall@k is then measured on all
  of them against the exact search;
* ``rank_and_mine``: synth's consistency filter and mining (no teacher) over the same pool, with either
  search, and how many kept pairs and mined negatives agree.

Two pools: ``clustered``, vectors near 500 centres in a 48-dimensional subspace (sentence embeddings have
such structure), and ``uniform``, uniformly random directions (no structure: the worst case for any index).

    nice -n 19 .venv/bin/python benchmarks/bench_ann.py --pool 100000 --queries 1000

Writes ``benchmarks/results/synth/ann.json``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from records import RESULTS, start_run, write_record

from domainemb.pairs import Generator, Pair, PairKind
from domainemb.synth.ann import ExactSearch, IVFSearch, recall_at_k
from domainemb.synth.config import SynthConfig
from domainemb.synth.corpus import Chunk
from domainemb.synth.postprocess import rank_and_mine


def clustered_pool(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    latent = 48
    basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T.astype(np.float32)  # (latent, dim)
    centres = rng.standard_normal((500, latent)).astype(np.float32)
    z = centres[rng.integers(0, 500, n)] + 0.7 * rng.standard_normal((n, latent)).astype(np.float32)
    return z @ basis + 0.05 * rng.standard_normal((n, dim)).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 2)


def measure(name: str, pool_emb: np.ndarray, n_queries: int, k: int, per_doc: int, seed: int) -> dict:
    import faiss

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(pool_emb), n_queries, replace=False))
    queries = unit(pool_emb[rows] + 0.03 * rng.standard_normal((n_queries, pool_emb.shape[1])).astype(np.float32))
    (exact_scores, exact_ids), exact_s = timed(lambda: ExactSearch(pool_emb).search(queries, k))
    flat = faiss.IndexFlatIP(pool_emb.shape[1])
    flat.add(pool_emb)
    (_, flat_ids), flat_s = timed(lambda: flat.search(queries, k))
    index, build_s = timed(lambda: IVFSearch(pool_emb, seed))
    _, calibrate_s = timed(lambda: index.calibrate(queries, k))
    (_, ivf_ids), ivf_s = timed(lambda: index.search(queries, k))
    figures = {
        "pool": len(pool_emb),
        "dim": pool_emb.shape[1],
        "queries": n_queries,
        "k": k,
        "exact_search_s": exact_s,
        "exact_ms_per_query": round(1000 * exact_s / n_queries, 2),
        "faiss_flat_search_s": flat_s,
        "faiss_flat_recall": round(recall_at_k(flat_ids, exact_ids), 4),
        "ivf_build_s": build_s,
        "ivf_calibrate_s": calibrate_s,
        "ivf_search_s": ivf_s,
        "ivf_ms_per_query": round(1000 * ivf_s / n_queries, 2),
        "ivf_recall_all_queries": round(recall_at_k(ivf_ids, exact_ids), 4),
        "ivf": index.describe(),
        "search_speedup": round(exact_s / max(ivf_s, 1e-9), 1),
    }
    # synth's own step over this pool: documents of `per_doc` consecutive chunks, one pair per query
    pool = [Chunk(f"d{i // per_doc}#{i % per_doc}", f"d{i // per_doc}", i % per_doc, 0, 1, f"c{i}")
            for i in range(len(pool_emb))]  # fmt: skip
    pairs = [
        Pair(f"q{r}", pool[r].text, (), pool[r].doc_id, PairKind.SHORT_LONG, Generator.ICT, key=f"k{r}",
             chunk_id=pool[r].id)
        for r in rows.tolist()
    ]  # fmt: skip
    config = SynthConfig(domain="finance", corpus=".", out="x.jsonl", teacher="none", seed=seed)
    exact_step, exact_step_s = timed(lambda: rank_and_mine(pairs, queries, pool, pool_emb, None, config))
    ivf_step, ivf_step_s = timed(lambda: rank_and_mine(pairs, queries, pool, pool_emb, None, config, None, index))
    exact_kept = {p.key: p for p in exact_step.pairs}
    ivf_kept = {p.key: p for p in ivf_step.pairs}
    same_negatives = sum(1 for key, p in ivf_kept.items() if key in exact_kept and exact_kept[key] == p)
    figures["rank_and_mine"] = {
        "config": {
            "consistency_top_k": config.consistency_top_k,
            "mine_ranks": list(config.mine_ranks),
            "negatives": config.negatives,
            "chunks_per_document": per_doc,
        },  # fmt: skip
        "searched_k": ivf_step.search["k"],
        "exact_s": exact_step_s,
        "ivf_s": ivf_step_s,
        "kept_exact": len(exact_kept),
        "kept_ivf": len(ivf_kept),
        "kept_both": len(exact_kept.keys() & ivf_kept.keys()),
        "kept_both_same_negatives": same_negatives,
        "ivf_recall_at_searched_k": ivf_step.search["student"]["recall"],
    }
    logging.info("%s: %s", name, figures)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384, help="MiniLM's width")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=250, help="the mining window's last rank (210) plus room")
    parser.add_argument("--chunks-per-document", type=int, default=20, help="MAEC: about 20 passages a call")
    parser.add_argument("--pools", nargs="+", default=["clustered", "uniform"], choices=["clustered", "uniform"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--records", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # which SIMD build it tried, at INFO
    run = start_run()
    figures = {}
    for name in args.pools:
        rng = np.random.default_rng(args.seed)
        raw = (
            clustered_pool(args.pool, args.dim, rng)
            if name == "clustered"
            else rng.standard_normal((args.pool, args.dim), dtype=np.float32)
        )
        figures[name] = measure(name, unit(raw), args.queries, args.k, args.chunks_per_document, args.seed)
    print(figures)
    write_record("synth", "ann", figures, run, root=args.records, packages=("faiss-cpu",))


if __name__ == "__main__":
    main()
