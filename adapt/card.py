"""The adapted model's card: sentence-transformers' own card plus a domainemb section.

sentence-transformers writes ``README.md`` when the model is saved (architecture, datasets, loss,
every training argument, logs). This module inserts, before its first section, what a reader of a
domain model needs first: the base model, what the training pairs were and where they came from
(the synth ``card.json``), the hyper-parameters, and the before/after scores. The section sits
between markers, so writing it again (after the evaluation) replaces it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from domainemb.adapt.compare import Change, Comparison
from domainemb.synth_card import SynthCard

START = "<!-- domainemb:adapt:start -->"
END = "<!-- domainemb:adapt:end -->"
CARD_FILE = "README.md"


def render_section(record: dict[str, Any], comparison: Comparison | None) -> str:
    """Markdown for the domainemb section.

    Args:
        record: The run record (``adapt.json``): base model, data (with the synth card as
            :meth:`SynthCard.to_dict` wrote it, or ``None``), split, hyper-parameters, dev scores.
        comparison: The before/after comparison, or ``None`` when the suites were not scored.
    """
    base = record["base"]
    data = record["data"]
    lines = [
        START,
        f"## Domain adaptation ({record['domain']}) with domainemb",
        "",
        f"Fine-tuned from **{base['model_name']}** (given as `{base['name']}`, weights fingerprint `{base['fingerprint'][:16]}`) "
        f"by `domainemb adapt` {record['domainemb_version']}.",
        "",
        "### Training data",
        "",
        f"- Pairs file: `{data['pairs']}` (sha256 `{data['sha256'][:16]}`), {data['pairs_used']} pairs"
        + (f" after dropping {data['duplicates']} exact repeats" if data["duplicates"] else "")
        + ".",
        f"- Split by source document: {data['train_pairs']} training pairs from {data['train_documents']} documents, "
        f"{data['dev_pairs']} dev pairs from {data['dev_documents']} documents; "
        f"{data['train_with_negatives']} training pairs carry mined hard negatives.",
    ]
    synth_card = data.get("synth_card")
    lines += _synth_summary(SynthCard.from_dict(synth_card) if synth_card else None)
    lines += ["", "### Hyper-parameters", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in record["hyperparameters"].items()]
    train = record["training"]
    lines += [
        "",
        "### Results",
        "",
        f"- Dev nDCG@10 (held-out documents): {_score(train['dev_score_before'])} before, {_score(train['dev_score_after'])} after"
        f" ({train['steps']} steps, {train['seconds']:.0f} s on {train['world_size']} process(es)).",
    ]
    if comparison is None:
        lines += ["- The domain and general suites were not scored in this run."]
    else:
        lines += _comparison_table(comparison)
    lines += [END, ""]
    return "\n".join(lines)


def write_card(model_dir: Path, section: str) -> None:
    """Insert (or replace) the domainemb section in ``model_dir/README.md``."""
    path = model_dir / CARD_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START in text and END in text:
        text = re.sub(re.escape(START) + r".*?" + re.escape(END) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        match = re.search(r"^## ", text, flags=re.M)
        text = text[: match.start()] + section + "\n" + text[match.start() :] if match else text + "\n" + section
    path.write_text(text, encoding="utf-8")


def _synth_summary(card: SynthCard | None) -> list[str]:
    if card is None:
        return ["- No synth `card.json` beside the pairs file: their provenance is not recorded."]
    lines = [f"- Synthesized from {card.corpus.documents} documents of `{card.corpus.path}`."]
    counts = card.counts
    for values, label in (
        (counts.by_generator, "generators"),
        (counts.by_kind, "task kinds"),
        (counts.by_persona, "personas"),
    ):
        if values:
            shown = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
            more = f", ... ({len(shown) - 8} more)" if len(shown) > 8 else ""
            lines.append(f"- Synthesis {label}: " + ", ".join(f"{k} {v}" for k, v in shown[:8]) + more + ".")
    drops = {k: v for k, v in card.drops.items() if v}
    if drops:
        lines.append("- Dropped during synthesis: " + ", ".join(f"{k} {v}" for k, v in drops.items()) + ".")
    against = card.decontamination.against
    if against:
        lines.append("- Decontaminated against: " + ", ".join(f"`{source}`" for source in against) + ".")
    llm_model = card.llm.llm_model or card.config.get("llm_model")
    if llm_model:
        lines.append(f"- LLM: `{llm_model}`.")
    if card.domainemb_version:
        lines.append(f"- Synthesized by domainemb {card.domainemb_version}.")
    return lines


def _comparison_table(comparison: Comparison) -> list[str]:
    lines = [
        f"- Main scores on the domainemb suites, base → adapted, change with its {comparison.confidence:.0%} bootstrap interval over tasks "
        f"(seed {comparison.seed}):",
        "",
        "| suite | task type | tasks | base | adapted | change | interval |",
        "|---|---|---|---|---|---|---|",
    ]
    for suite_name, suite in comparison.suites.items():
        for kind, change in [*suite.by_type.items(), ("all", suite.overall)]:
            lines.append(f"| {suite_name} | {kind} | {change.n_tasks} | {_row(change)} |")
    return lines


def _row(change: Change) -> str:
    interval = "n/a (one task)" if change.low is None else f"[{change.low:+.4f}, {change.high:+.4f}]"
    return f"{change.base:.4f} | {change.adapted:.4f} | {change.delta:+.4f} | {interval}"


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value).replace("|", "\\|")
