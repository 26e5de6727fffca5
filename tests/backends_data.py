"""Helpers of tests/test_backends.py: texts of many lengths, and a counter of ONNX exports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Texts of 1 to ~60 tokens: batches pad to different lengths, so the graph's dynamic axes are exercised.
TEXTS = [
    "revenue",
    "net interest margin",
    "the company reported quarterly revenue growth of twelve percent",
    "operating expenses rose faster than sales, and the board cut the dividend for the second year running",
    "hello world",
    "Guidance for the full year was raised: management now expects earnings per share between 4.10 and 4.25, "
    "helped by lower input costs, a stronger dollar and the buy-back programme announced in March, which "
    "will retire about three percent of the shares outstanding by the end of the fiscal year.",
    "bonds",
    "a share is a unit of ownership in a company",
]


class ExportCounter:
    """Wraps ``torch.onnx.export`` and counts its calls (``monkeypatch.setattr(torch.onnx, "export", counter)``)."""

    def __init__(self, export: Callable[..., Any]) -> None:
        self.export = export
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.export(*args, **kwargs)
