"""Regression tests for defects found in review of the prune --teacher, model-origin and partly-kept compare work."""

from __future__ import annotations

import json
import re

import pytest

from domainemb.errors import DomainembError
from domainemb.model_origin import ORIGIN_FILE, ORIGIN_FORMAT, origin_of

_ORIGIN = {
    "format": ORIGIN_FORMAT,
    "kind": "adapted",
    "domain": "finance",
    "base": {"name": "minilm", "fingerprint": "b" * 64},
    "fingerprint": "a" * 64,
    "data": None,
    "teacher": None,
    "recipe": "loss mnrl, 3 steps",
    "command": None,
}


@pytest.mark.parametrize(
    "patch",
    [{"fingerprint": None}, {"fingerprint": 5}, {"base": {"name": "minilm", "fingerprint": None}}, {"domain": None}],
)
def test_an_origin_with_a_field_of_the_wrong_type_is_one_error_naming_the_file(tmp_path, patch):
    """A hand-edited origin whose fingerprint is not text was a TypeError traceback out of compare
    (the fingerprint mismatch warning sliced it); it is a DomainembError naming the file."""
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / ORIGIN_FILE).write_text(json.dumps({**_ORIGIN, **patch}))
    with pytest.raises(DomainembError, match=re.escape(str(tmp_path / ORIGIN_FILE))):
        origin_of(str(tmp_path))
