"""domainemb.evaluation: score models on built benchmarks through mteb.

One :class:`~domainemb.evaluation.encoders.Encoder` seam covers dense models, BM25 and
bag-of-words; :func:`~domainemb.evaluation.run.evaluate` runs them with mteb's evaluators,
an on-disk embedding cache, and writes results in mteb's layout with provenance.
"""
