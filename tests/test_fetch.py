"""The download path: files missing from the mirror come from a served mirror or the pinned upstream."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from domainemb.domains.fetch import FetchConfig, Fetcher, sha256_file, upstream_file_url
from domainemb.domains.readers import SourceFiles
from domainemb.domains.registry import domain_sources
from domainemb.errors import DataError
from domainemb.types import Domain, Source


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def serve():
    """Serve a folder over HTTP on loopback; yields a function folder -> base URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _sources_with_upstream() -> list[Source]:
    out = []
    for domain in Domain:
        out += [s for s in domain_sources(domain) if any(f.upstream_path for f in s.files)]
    return out


def _small_source() -> Source:
    return min(_sources_with_upstream(), key=lambda s: sum(1 for _ in s.files))


def test_every_source_file_is_in_the_mirror_with_its_pinned_checksum(data_dir):
    fetcher = Fetcher(FetchConfig(mirror=data_dir, cache=data_dir / "__never_used__"))
    for domain in Domain:
        for source in domain_sources(domain):
            for f in source.files:
                assert fetcher.path(source, f.name) == data_dir / source.key / f.name


def test_download_from_served_mirror_when_local_mirror_lacks_the_file(tmp_path, data_dir, serve):
    source = _small_source()
    served = tmp_path / "served"
    shutil.copytree(data_dir / source.key, served / source.key)
    url = serve(served)
    fetcher = Fetcher(FetchConfig(mirror=tmp_path / "empty", cache=tmp_path / "cache", mirror_url=url))
    for f in source.files:
        path = fetcher.path(source, f.name)
        assert path.is_relative_to(tmp_path / "cache")
        assert sha256_file(path) == f.sha256
    # A second fetcher finds the verified cache copy without the server.
    offline = Fetcher(FetchConfig(mirror=None, cache=tmp_path / "cache", mirror_url="http://127.0.0.1:9"))
    assert sha256_file(offline.path(source, source.files[0].name)) == source.files[0].sha256


def test_download_from_upstream_layout_at_pinned_commit(tmp_path, data_dir, serve):
    source = _small_source()
    file = next(f for f in source.files if f.upstream_path)
    url = upstream_file_url(source, file, "http://x")
    assert source.commit in url and url.endswith(file.upstream_path)
    rel = url.removeprefix("http://x/")
    (tmp_path / "gh" / rel).parent.mkdir(parents=True)
    shutil.copy(data_dir / source.key / file.name, tmp_path / "gh" / rel)
    base = serve(tmp_path / "gh")
    fetcher = Fetcher(FetchConfig(mirror=None, cache=tmp_path / "cache", upstream_url=base))
    assert sha256_file(fetcher.path(source, file.name)) == file.sha256


def test_downloaded_file_with_wrong_checksum_is_rejected_and_not_cached(tmp_path, data_dir, serve):
    source = _small_source()
    file = source.files[0]
    served = tmp_path / "served" / source.key
    served.mkdir(parents=True)
    (served / file.name).write_bytes((data_dir / source.key / file.name).read_bytes() + b"tampered")
    fetcher = Fetcher(FetchConfig(mirror=None, cache=tmp_path / "cache", mirror_url=serve(tmp_path / "served")))
    with pytest.raises(DataError, match="checksum mismatch"):
        fetcher.path(source, file.name)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_altered_mirror_file_is_rejected(tmp_path, data_dir):
    source = _small_source()
    file = source.files[0]
    (tmp_path / source.key).mkdir(parents=True)
    (tmp_path / source.key / file.name).write_bytes(b"not the dataset")
    files = SourceFiles(Fetcher(FetchConfig(mirror=tmp_path, cache=tmp_path / "cache")))
    with pytest.raises(DataError, match=rf"{source.key}.*{file.name}.*checksum mismatch"):
        files.bytes(source, file.name)


def test_missing_file_without_any_download_route_names_dataset_and_file(tmp_path):
    source = _small_source()
    fetcher = Fetcher(FetchConfig(mirror=tmp_path, cache=tmp_path / "cache", upstream_url="http://127.0.0.1:9"))
    with pytest.raises(DataError) as err:
        fetcher.path(source, source.files[0].name)
    assert source.key in str(err.value) and source.files[0].name in str(err.value)
