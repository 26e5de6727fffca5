"""The top-level folders install as subpackages of `domainemb`, in a wheel and in this environment."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["domains", "synth", "adapt", "prune", "cli", "evaluation", "compare"]


def test_installed_package_maps_top_level_folders():
    import importlib

    for name in SUBPACKAGES:
        module = importlib.import_module(f"domainemb.{name}")
        assert Path(module.__file__).resolve().parent in {REPO / name, *Path(sys.prefix).rglob(f"domainemb/{name}")}
    import domainemb

    assert domainemb.__version__ != "0.0.0+unknown"
    assert Path(domainemb.__file__).resolve().parent in {REPO / "domainemb", *Path(sys.prefix).rglob("domainemb")}


def test_every_module_lives_at_its_import_path():
    """``domainemb.X.Y`` is ``X/Y.py``; the root package's ``domainemb.Y`` is ``domainemb/Y.py``."""
    import importlib
    import pkgutil

    import domainemb

    seen = 0
    # The editable install maps each subpackage on its own, so walk each one from its own path.
    roots = [("domainemb", domainemb.__path__)] + [
        (f"domainemb.{name}", importlib.import_module(f"domainemb.{name}").__path__) for name in SUBPACKAGES
    ]
    for package, path in roots:
        for info in pkgutil.walk_packages(path, prefix=f"{package}."):
            parts = info.name.split(".")[1:]
            if parts[0] in SUBPACKAGES and package == "domainemb":
                continue
            module = importlib.import_module(info.name)
            folder = REPO / "domainemb" if package == "domainemb" else REPO
            target = folder.joinpath(*parts) if package != "domainemb" else folder / parts[0]
            expected = target / "__init__.py" if info.ispkg else target.with_suffix(".py")
            assert Path(module.__file__).resolve() == expected, info.name
            seen += 1
    assert seen > 50


def test_reports_is_not_a_package():
    """reports/ holds only the published pages; the renderer is domainemb.compare.render."""
    assert not (REPO / "reports" / "__init__.py").exists()
    assert not list((REPO / "reports").rglob("*.py"))
    with pytest.raises(ModuleNotFoundError):
        import domainemb.reports  # noqa: F401


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
    assert {"domainemb/compare/templates/report.html.j2", "domainemb/compare/static/report.js"} <= names
    assert "domainemb/prune/methods/gaprune.py" in names
    assert not any(n.startswith("domainemb/reports/") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "domainemb = domainemb.cli.main:app" in zipfile.ZipFile(wheel).read(entry).decode()
    assert not any(n.startswith(("tests/", "domainemb/tests")) for n in names)
