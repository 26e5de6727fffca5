"""domainemb: domain-specific text embeddings, benchmarked against a general-domain reference."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("domainemb")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
