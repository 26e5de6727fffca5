"""The prune-method registry: a method added the way a contributor would (one class, one registry
line) runs end to end, and every registered method's declared needs match what it reads."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from prune_data import calibration_pairs, write_pairs_file
from sentence_transformers import SentenceTransformer

from domainemb.errors import UnknownNameError
from domainemb.prune import methods
from domainemb.prune.architecture import ffn_model
from domainemb.prune.config import PruneConfig, Ranking
from domainemb.prune.gradients import GradientMoments
from domainemb.prune.masks import masks_from_scores
from domainemb.prune.methods import METHODS, MethodName, MethodRegistry, PruneMethod, ScoringSettings
from domainemb.prune.report import PruneReport
from domainemb.prune.run import prune


# ----------------------------------------------------------------------------- a contributor's method
class ReversedMagnitude(PruneMethod):
    """``−|θ|``: the largest weights go first (a toy: the opposite of magnitude pruning).

    It declares the domain moments so that the run makes a domain gradient pass for it, and
    records what it was given.
    """

    name = "reversed-magnitude"
    needs_domain_moments = True

    def __init__(self) -> None:
        self.seen: list[tuple[bool, bool]] = []

    def score(self, theta, moments, settings):
        self.seen.append((moments.domain is not None, moments.general is not None))
        return {name: -t.abs() for name, t in theta.items()}


@pytest.fixture
def registry(monkeypatch) -> MethodRegistry:
    """A copy of the registry for one test: what the test registers does not leak."""
    monkeypatch.setattr(methods, "METHODS", METHODS.copy())
    return methods.METHODS


def test_a_new_method_runs_end_to_end(registry, tiny_bert_folder, tiny_benchmark, tmp_path):
    toy = methods.register(ReversedMagnitude())  # the one registry line
    pairs = write_pairs_file(tmp_path / "pairs.jsonl", calibration_pairs(40))
    config = PruneConfig(
        model=str(tiny_bert_folder),
        domain="finance",
        method="reversed-magnitude",
        sparsity=0.5,
        out=tmp_path / "run",
        pairs=pairs,
        min_calibration_pairs=16,
        domain_calibration=24,
        general_calibration=24,
        batch_size=8,
        max_seq_length=32,
        domain_benchmark=tiny_benchmark,
        general_benchmark=tiny_benchmark,
        domain_tasks=("TinyClassification",),
        general_tasks=("TinySTS",),
    )
    stages: list[str] = []
    result = prune(config, on_event=lambda event: stages.append(event.stage))

    assert toy.seen == [(True, False)]  # the domain moments it declared, and nothing else
    report = PruneReport.from_disk(result.out)
    assert (report.method, report.variant) == ("reversed-magnitude", None)
    assert set(report.calibration) == {"domain"}  # no general pairs chosen: it does not need them
    assert "scoring weights (reversed-magnitude)" in stages
    assert report.diagnostics == {"pruned_overlap_with_magnitude": 0.0}  # the exact opposite of magnitude
    assert set(report.suites) == {"domain", "general"}

    # The mask follows the toy's scores: exactly the largest half of the dense weights are zero.
    dense = {
        n: w.detach() for n, w in ffn_model(SentenceTransformer(str(tiny_bert_folder), device="cpu")).weights().items()
    }
    saved = SentenceTransformer(str(result.out / "model"), device="cpu")
    pruned = {n: w.detach() for n, w in ffn_model(saved).weights().items()}
    expected = masks_from_scores({n: -w.abs() for n, w in dense.items()}, 0.5, Ranking.GLOBAL)
    assert report.ffn_sparsity == 0.5
    for name, keep in expected.items():
        assert torch.equal(pruned[name] != 0, keep), name
        assert torch.equal(pruned[name][keep], dense[name][keep]), name  # kept weights untouched
    smallest_pruned = min(float(dense[n][~keep].abs().min()) for n, keep in expected.items())
    largest_kept = max(float(dense[n][keep].abs().max()) for n, keep in expected.items())
    assert smallest_pruned >= largest_kept


def test_an_unregistered_method_is_refused_with_the_closest_name(tmp_path):
    assert "reversed-magnitude" not in METHODS  # the other test's registration did not leak
    with pytest.raises(UnknownNameError, match="unknown prune method 'fisher-domian'; did you mean fisher-domain"):
        PruneConfig(model="minilm", domain="finance", method="fisher-domian", sparsity=0.5, out=tmp_path)


def test_registry_refuses_duplicates_and_bad_names(registry):
    with pytest.raises(ValueError, match="duplicate prune method name 'magnitude'"):
        methods.register(type("Again", (ReversedMagnitude,), {"name": "magnitude"})())
    with pytest.raises(ValueError, match="lower case words"):
        methods.register(type("Spaced", (ReversedMagnitude,), {"name": "Reversed Magnitude"})())
    with pytest.raises(UnknownNameError, match="did you mean gaprune"):
        registry.get("gaprun")


def test_the_command_line_offers_every_registered_method():
    assert [m.value for m in MethodName] == METHODS.names()
    assert METHODS.names()[0] == "gaprune"  # the --method default


def test_the_registry_loads_without_torch():
    """The command line imports the registry for its choices and must start without torch."""
    code = "import sys, domainemb.cli.main, domainemb.prune.methods; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ----------------------------------------------------------------------------- every registered method
def _moments(seed: int) -> GradientMoments:
    generator = torch.Generator().manual_seed(seed)
    moments = GradientMoments()
    for _ in range(3):
        moments.add({"a": torch.randn(4, 6, generator=generator), "b": torch.randn(6, generator=generator)})
    return moments


WEIGHTS = {"a": torch.randn(4, 6, generator=torch.Generator().manual_seed(0)), "b": torch.linspace(-1, 1, 6)}


@pytest.mark.parametrize("method", list(METHODS), ids=METHODS.names())
def test_every_method_declares_what_it_reads(method: PruneMethod):
    assert METHODS.get(method.name) is method
    assert (type(method).__doc__ or "").strip(), "a method says what it does in its docstring"
    assert method.needs_gradients == (method.needs_domain_moments or method.needs_general_moments)
    sides = {"domain": method.needs_domain_moments, "general": method.needs_general_moments}
    given = {side: _moments(i + 1) if needed else None for i, (side, needed) in enumerate(sides.items())}
    settings = ScoringSettings(seed=3)

    scores = method.scores(WEIGHTS, given["domain"], given["general"], settings)  # what it declared is enough
    assert set(scores) == set(WEIGHTS)
    for name, score in scores.items():
        assert score.shape == WEIGHTS[name].shape and score.dtype == torch.float32
    # nothing undeclared is read: other moments on the undeclared sides change nothing
    filled = {side: moments if sides[side] else _moments(7 + i) for i, (side, moments) in enumerate(given.items())}
    everything = method.scores(WEIGHTS, filled["domain"], filled["general"], settings)
    assert all(torch.equal(scores[n], everything[n]) for n in scores)

    for side, needed in sides.items():
        if not needed:
            continue
        # what is declared is needed ...
        with pytest.raises(ValueError, match=f"{method.name} needs .*{side}"):
            method.scores(WEIGHTS, **{**given, side: None}, settings=settings)
        # ... and read: other moments on that side give other scores
        other = method.scores(WEIGHTS, **{**given, side: _moments(11)}, settings=settings)
        assert any(not torch.equal(scores[n], other[n]) for n in scores), f"{method.name} ignores its {side} moments"
