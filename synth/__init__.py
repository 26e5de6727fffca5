"""domainemb.synth: training pairs from a folder of documents (``domainemb synth``).

One module per concern:

* ``corpus``: read txt / md / html / jsonl / pdf, skip bad files with a named reason, chunk by tokens;
* ``personas`` and ``templates``: who asks (YAML personas per domain), prompt files, E5-style attributes;
* ``llm``: the LLM client seam and its OpenAI-compatible implementation (retries, Retry-After);
* ``server``: the local llama.cpp server with SmolLM2-135M-Instruct;
* ``generate``: the deterministic plan, one LLM example end to end, the ict and crop generators;
* ``postprocess`` and ``decontam``: deduplication, ranking consistency, hard negatives, 13-gram decontamination;
* ``pairs``: the planned example's key and the resumable log (the pairs file itself is :mod:`domainemb.pairs`);
* ``pipeline``: one run, from corpus to pairs and ``<stem>.card.json``;
* ``export`` and ``corpus_task``: a domain's training-side texts as a corpus; the user's corpus as a benchmark task.
"""
