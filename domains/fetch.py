"""Locate and verify source files: local mirror first, then a pinned download into a cache.

The mirror is the folder named by ``DOMAINEMB_DATA``, laid out as ``<domain>/<dataset>/<file>``
(the layout of ``shared/data``). A file missing there is downloaded into
``DOMAINEMB_CACHE`` (default ``~/.cache/domainemb``) from, in order:

1. ``DOMAINEMB_DATA_URL``: a served mirror with the same layout (``{url}/{domain}/{dataset}/{file}``);
2. the upstream repository at the pinned commit (``{DOMAINEMB_UPSTREAM_URL}/{owner}/{repo}/{commit}/{path}``,
   by default ``https://raw.githubusercontent.com``), for files that exist upstream as-is.

Whichever way a file arrives, its sha256 must match the one pinned in its :class:`Source`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from domainemb.atomic import write_atomic
from domainemb.errors import DataError
from domainemb.types import Source, SourceFile

log = logging.getLogger(__name__)

DEFAULT_UPSTREAM_URL = "https://raw.githubusercontent.com"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FetchConfig:
    """Where source files are looked for and cached.

    Args:
        mirror: Local mirror folder (``DOMAINEMB_DATA``); ``None`` to skip.
        cache: Download cache folder.
        mirror_url: Base URL of a served mirror (``DOMAINEMB_DATA_URL``); ``None`` to skip.
        upstream_url: Base of raw-file URLs for upstream repositories.
        timeout: Seconds to wait on a download before giving up.
    """

    mirror: Path | None
    cache: Path
    mirror_url: str | None = None
    upstream_url: str = DEFAULT_UPSTREAM_URL
    timeout: float = 60.0

    @classmethod
    def from_env(cls) -> FetchConfig:
        mirror = os.environ.get("DOMAINEMB_DATA")
        cache = os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb"
        return cls(
            mirror=Path(mirror).expanduser() if mirror else None,
            cache=Path(cache).expanduser(),
            mirror_url=os.environ.get("DOMAINEMB_DATA_URL") or None,
            upstream_url=os.environ.get("DOMAINEMB_UPSTREAM_URL") or DEFAULT_UPSTREAM_URL,
        )


def upstream_file_url(source: Source, file: SourceFile, base: str = DEFAULT_UPSTREAM_URL) -> str | None:
    """Raw URL of ``file`` in its upstream repository at the pinned commit, if it exists there as-is."""
    if file.upstream_path is None:
        return None
    prefix = "https://github.com/"
    if not source.repo.startswith(prefix):
        return None
    owner_repo = source.repo[len(prefix) :].strip("/")
    return f"{base.rstrip('/')}/{owner_repo}/{source.commit}/{file.upstream_path}"


class Fetcher:
    """Resolves a source file to a verified local path."""

    def __init__(self, config: FetchConfig | None = None) -> None:
        self.config = config or FetchConfig.from_env()
        self._verified: dict[tuple[str, str], Path] = {}

    def path(self, source: Source, name: str) -> Path:
        """Return a local path to ``source``'s file ``name`` whose sha256 has been checked."""
        key = (source.key, name)
        if key in self._verified:
            return self._verified[key]
        try:
            file = source.file(name)
        except KeyError:
            raise DataError(source.key, name, "not a file of this source") from None
        path = self._locate(source, file)
        actual = sha256_file(path)
        if actual != file.sha256:
            raise DataError(
                source.key, str(path), f"checksum mismatch: sha256 {actual[:16]}… != pinned {file.sha256[:16]}…"
            )
        self._verified[key] = path
        return path

    def _locate(self, source: Source, file: SourceFile) -> Path:
        cfg = self.config
        if cfg.mirror is not None:
            local = cfg.mirror / source.key / file.name
            if local.is_file():
                return local
        cached = cfg.cache / "data" / source.key / file.name
        if cached.is_file() and sha256_file(cached) == file.sha256:
            return cached
        urls = []
        if cfg.mirror_url:
            urls.append(f"{cfg.mirror_url.rstrip('/')}/{source.key}/{file.name}")
        upstream = upstream_file_url(source, file, cfg.upstream_url)
        if upstream:
            urls.append(upstream)
        if not urls:
            where = f"mirror {cfg.mirror}" if cfg.mirror else "no mirror (DOMAINEMB_DATA unset)"
            raise DataError(
                source.key,
                file.name,
                f"missing from {where}, and it is a repack with no upstream file: set DOMAINEMB_DATA or DOMAINEMB_DATA_URL",
            )
        errors = []
        for url in urls:
            try:
                return self._download(url, cached, source, file)
            except (OSError, urllib.error.URLError) as exc:
                errors.append(f"{url}: {exc}")
        where = f"mirror {cfg.mirror}" if cfg.mirror else "no local mirror"
        raise DataError(source.key, file.name, f"missing from {where} and download failed ({'; '.join(errors)})")

    def _download(self, url: str, dest: Path, source: Source, file: SourceFile) -> Path:
        log.info("downloading %s", url)

        def download(tmp: Path) -> None:  # a wrong checksum raises, so nothing is renamed into place
            digest = hashlib.sha256()
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=self.config.timeout) as resp:
                for block in iter(lambda: resp.read(_CHUNK), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != file.sha256:
                raise DataError(source.key, url, f"checksum mismatch after download: sha256 {digest.hexdigest()[:16]}…")

        write_atomic(dest, download)
        return dest
