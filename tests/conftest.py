"""Test settings: offline, CPU-only, real data read from ../shared/data beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# Nothing may wait on a model or dataset hub.
for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[var] = "1"
os.environ.setdefault("DOMAINEMB_DATA", str(SHARED_DATA))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("DOMAINEMB_DATA_URL", None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["DOMAINEMB_DATA"])
    if not path.is_dir():
        pytest.fail(f"DOMAINEMB_DATA={path} is not a folder; tests need the staged datasets")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads go to a per-session cache, never the user's."""
    monkeypatch.setenv("DOMAINEMB_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
