"""domainemb.prune: GAPrune and pruning baselines for embedding models (``domainemb prune``).

One concern per module:

* :mod:`~domainemb.prune.config`: ``PruneConfig`` and the variant / ranking vocabularies;
* :mod:`~domainemb.prune.architecture`: where a model's FFN matrices are (known architectures only);
* :mod:`~domainemb.prune.calibration`: domain and general calibration pairs, k-means coverage;
* :mod:`~domainemb.prune.gradients`: streamed Fisher and gradient-alignment statistics;
* :mod:`~domainemb.prune.methods`: the prune methods, one file each (GAPrune's DAI, paper and normalised, and the
  baselines), in a registry (``METHODS``): a new method is one file plus one registry line;
* :mod:`~domainemb.prune.masks`: exact-count masks, global or per layer, and reached sparsity;
* :mod:`~domainemb.prune.structured`: removing whole FFN neurons;
* :mod:`~domainemb.prune.retrain`: retraining through the adapter's trainer with masks held;
* :mod:`~domainemb.prune.sparse_io`: the compressed on-disk form and its loader;
* :mod:`~domainemb.prune.report` / :mod:`~domainemb.prune.run`: the run and its report.
"""
