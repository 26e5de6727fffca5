"""The top-level folders install as subpackages of `domainemb`, in a wheel and in this environment."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["domains", "synth", "adapt", "prune", "cli", "reports", "evaluation", "compare"]


def test_installed_package_maps_top_level_folders():
    import importlib

    for name in SUBPACKAGES:
        module = importlib.import_module(f"domainemb.{name}")
        assert Path(module.__file__).resolve().parent in {REPO / name, *Path(sys.prefix).rglob(f"domainemb/{name}")}
    import domainemb

    assert domainemb.__version__ != "0.0.0+unknown"


@pytest.mark.slow
def test_wheel_contains_the_namespace_and_entry_point(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("domainemb-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for sub in SUBPACKAGES:
        assert f"domainemb/{sub}/__init__.py" in names, sub
    assert "domainemb/types.py" in names and "domainemb/domains/registry.py" in names
    assert {"domainemb/reports/templates/report.html.j2", "domainemb/reports/static/report.js"} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "domainemb = domainemb.cli.main:app" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "domainemb/tests")) for n in names)
