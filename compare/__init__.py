"""domainemb.compare: does a general embedding model hold up in a domain, and which model to use?

:func:`~domainemb.compare.run.compare` scores models (and the ``bm25`` and ``bow`` baselines) on a
domain suite and on the general suite through the evaluation engine, then writes
``analysis.json``: domain and general means with bootstrap intervals, rank agreement, a two-way
analysis of variance, and dataset complexity. ``domainemb report`` renders it.
"""
