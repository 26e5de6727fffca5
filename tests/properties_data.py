"""Hypothesis strategies for the readers of user input: structured, not only random bytes.

Every strategy builds input a user could plausibly hand us, mostly well formed, with the faults that
break readers mixed in: JSON records with fields of the wrong type, missing fields, NaN, infinities and
numbers too large for a float or for Python's 4300-digit limit, nesting deeper than the recursion
limit, lone surrogate escapes, unicode line breaks and empty strings; YAML scalars of the wrong type
(dates, hex, ``.nan``, block scalars, unknown tags, recursive aliases); CSV and TSV rows that are
ragged or carry stray quotes and carriage returns; duplicate ids; judgements of unknown ids.

``mostly(good, bad)`` draws ``bad`` about one time in five and shrinks towards ``good``, so a failing
example shrinks to the one faulty field.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import fields
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def quick(max_examples: int) -> settings:
    """Settings for one property: reproducible in CI (derandomized, no example database), no deadline."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy, bad_in_10: int = 2) -> st.SearchStrategy:
    """``good`` most of the time, ``bad`` about ``bad_in_10`` times in ten; shrinks towards ``good``."""
    return st.integers(0, 9).flatmap(lambda i: bad if i >= 10 - bad_in_10 else good)


# ----------------------------------------------------------------------------- texts and JSON values
LINE_BREAKS = ["\u2028", "\u2029", "\x85", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
SPECIAL_TEXTS = [
    "",
    " ",
    "\t",
    "\u3000",
    "\ufeff",
    "\x00",
    "NaN",
    "null",
    "1e999",
    "-",
    "²",  # str.isdigit() says yes, int() says no
    "--1",
    "１",  # a full-width digit
    "a\u2028b",
    "caf\xe9 \U0001f600",
    '"',
    "'",
    ",",
    "\\",
    '"quoted, with comma"',
    *LINE_BREAKS,
]
WORDS = ["revenue", "rose", "bond", "yield", "enzyme", "acid", "the", "of", "dividend", "margin", "what", "how"]

texts = st.one_of(
    st.sampled_from(SPECIAL_TEXTS),
    st.text(max_size=12),
    st.text(alphabet="ab \n\r,\t\"'", max_size=8),
)
sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
#: Numbers JSON can carry that break a naive reader: beyond int64, beyond a float, beyond int() of a string.
HUGE_INT = "1" + "0" * 5000
#: JSON text (inserted as is) that ``json.dumps`` never writes.
RAW_JSON = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    HUGE_INT,
    "1" + "0" * 400,  # parses, but no float holds it
    "9223372036854775808",  # one past int64
    "[" * 3000 + "]" * 3000,  # deeper than the recursion limit
    '"\\ud800"',  # a lone surrogate: valid JSON, no valid text
    '"how fast did \\udc00 services grow"',
    '"a\\u2028b"',
    '""',
    "-0",
    "1.5",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(texts, c, max_size=3), max_leaves=6
)


def dumps(value: Any, ensure_ascii: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=True)


#: A JSON fragment (text) of any value, including those only raw text can hold.
any_json = mostly(st.builds(dumps, json_values, st.booleans()), st.sampled_from(RAW_JSON), 5)


def clean_object(fields: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """The text of one JSON object with exactly ``fields`` (their fragments), in order."""
    return st.fixed_dictionaries(fields).map(lambda d: "{" + ", ".join(f"{dumps(k)}: {v}" for k, v in d.items()) + "}")


def json_object(fields: dict[str, st.SearchStrategy], extra: bool = True) -> st.SearchStrategy:
    """The text of one JSON object whose values are the fragments the ``fields`` strategies give.

    Each field may be missing (about one time in ten); other keys may be added.
    """

    @st.composite
    def build(draw: Callable) -> str:
        items = []
        for key, value in fields.items():
            if draw(mostly(st.just(True), st.just(False), 1)):
                items.append((key, draw(value)))
        if extra and draw(st.booleans()):
            items.append((draw(texts), draw(any_json)))
        order = draw(st.permutations(items)) if len(items) > 1 and draw(st.booleans()) else items
        return "{" + ", ".join(f"{dumps(k)}: {v}" for k, v in order) + "}"

    return build()


def jsonl_bytes(
    record: st.SearchStrategy,
    min_lines: int = 0,
    max_lines: int = 6,
    id_prefix: str = "",
    clean: st.SearchStrategy | None = None,
) -> st.SearchStrategy:
    """A JSONL file: mostly lines of ``record``; now and then a line that is no object, garbage, blank,
    CRLF endings, a BOM, an unterminated last line, or bytes that are not UTF-8. With ``id_prefix``,
    :data:`LINE_ID` in a line becomes its id (``id_prefix`` and the line's index). With ``clean``
    (a record without faults), half the files are made of clean records only, so that files with
    several lines are often valid as a whole."""
    line = mostly(record, st.one_of(any_json, texts, st.just("")))

    @st.composite
    def build(draw: Callable) -> bytes:
        if clean is not None and draw(st.booleans()):
            lines = draw(st.lists(clean, min_size=max(min_lines, 1), max_size=max_lines))
            lines = [text.replace(LINE_ID, f"{id_prefix}{i}") for i, text in enumerate(lines)]
            return ("\n".join(lines) + "\n").encode("utf-8")
        lines = draw(st.lists(line, min_size=min_lines, max_size=max_lines))
        lines = [text.replace(LINE_ID, f"{id_prefix}{i}") for i, text in enumerate(lines)]
        text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
        if draw(st.booleans()):
            text += "\n"
        if draw(mostly(st.just(False), st.just(True), 1)):
            text = "\ufeff" + text
        data = text.encode("utf-8")
        return draw(mostly(st.just(data), st.one_of(st.binary(max_size=40), st.just(data[: len(data) // 2])), 1))

    return build()


# ----------------------------------------------------------------------------- BEIR folders
DOC_IDS = ["d0", "d1", "d2", "d3"]
QUERY_IDS = ["q0", "q1", "q2"]
UNKNOWN_IDS = ["d9", "q9", "", " ", "D0"]


#: Stands for the line's own id (``d3`` on the corpus's fourth line): ids are unique unless a fault repeats one.
LINE_ID = "@ID@"


def _id_fragment(pool: list[str]) -> st.SearchStrategy:
    bad = st.one_of(st.sampled_from(pool + UNKNOWN_IDS).map(dumps), any_json, st.just("1"))
    return mostly(st.just(dumps(LINE_ID)), bad, 1)


_text_fragment = mostly(sentences.map(dumps), st.one_of(texts.map(dumps), any_json))
corpus_record = json_object(
    {"_id": _id_fragment(DOC_IDS), "title": mostly(st.just('""'), _text_fragment), "text": _text_fragment}
)
query_record = json_object({"_id": _id_fragment(QUERY_IDS), "text": _text_fragment})
_own_id = st.just(dumps(LINE_ID))
clean_corpus_record = clean_object({"_id": _own_id, "title": st.just('""'), "text": sentences.map(dumps)})
clean_query_record = clean_object({"_id": _own_id, "text": sentences.map(dumps)})

QREL_SCORES = ["0", "1", "2"]
BAD_SCORES = ["-1", "1.0", " 1", "1 ", "²", "--1", "-", "", "x", "9" * 30, "9" * 5000, "1e3", "١", "0x1", "1\r"]


def _cell(good: st.SearchStrategy) -> st.SearchStrategy:
    return mostly(good, st.one_of(st.sampled_from(UNKNOWN_IDS + BAD_SCORES), texts), 1)


qrels_row = mostly(
    st.tuples(_cell(st.sampled_from(QUERY_IDS)), _cell(st.sampled_from(DOC_IDS)), _cell(st.sampled_from(QREL_SCORES))),
    st.lists(_cell(st.sampled_from(QUERY_IDS + DOC_IDS + QREL_SCORES)), max_size=5),  # ragged
    1,
)


@st.composite
def qrels_bytes(draw: Callable) -> bytes:
    """A qrels TSV; half of them without faults (judgements of known ids, distinct pairs, a header)."""
    if draw(st.booleans()):
        pairs = st.tuples(st.sampled_from(QUERY_IDS), st.sampled_from(DOC_IDS), st.sampled_from(QREL_SCORES))
        rows = draw(st.lists(pairs, min_size=1, max_size=8, unique_by=lambda row: row[:2]))
        return ("query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in rows)).encode()
    rows = draw(st.lists(qrels_row, max_size=8, unique_by=lambda row: tuple(row[:2])))
    lines = ["\t".join(r) for r in rows]
    if draw(mostly(st.just(True), st.just(False))):
        lines.insert(0, "query-id\tcorpus-id\tscore")
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["\n", ""]))
    return draw(mostly(st.just(text.encode()), st.binary(max_size=30), 1))


# ----------------------------------------------------------------------------- YAML
#: YAML scalars (and a few flow and block values) that a careless reader takes for the wrong type.
YAML_FRAGMENTS = [
    "low",
    ".inf",
    "-.inf",
    ".nan",
    "~",
    "null",
    "yes",
    "off",
    "0x1F",
    "0o17",
    "1_000",
    "1e5",  # a string in YAML 1.1 (no dot)
    "2e-5",
    "1.0e+400",  # a float that overflows to inf
    "2020-01-01",
    "2020-13-45",  # matches YAML's timestamp pattern, but no such date
    "2020-01-01 10:00:00",
    "[1, 2]",
    "{a: b}",
    "[]",
    "{}",
    "''",
    "'   '",
    "!!binary aGk=",
    "!!python/object:os.system {}",
    "*nope",
    "&a [*a]",
    "-1",
    "0",
    "1",
    "3.5",
    "1" + "0" * 400,
    "1" * 5000,
    "[" * 600,  # deeper than the recursion limit (PyYAML scans it in quadratic time: no deeper)
    '"\\u2028"',
    '"\\ud800"',
    "|\n  block\n  text",
    "{{",
    ": :",
    "'unterminated",
    "\x01",
]


def yaml_scalar(value: Any) -> str:
    """One generated Python value as an inline YAML value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


any_yaml = mostly(st.sampled_from(YAML_FRAGMENTS), st.builds(yaml_scalar, json_values), 3)


@st.composite
def yaml_document(draw: Callable, values: dict[str, st.SearchStrategy], unknown: Sequence[str] = ()) -> bytes:
    """A YAML mapping of some of ``values``' keys (and now and then an unknown or repeated one), or,
    rarely, a document that is no mapping at all."""
    keys = list(values)
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True)) if keys else []
    lines = [f"{k}: {draw(values[k])}" for k in chosen]
    if unknown and draw(mostly(st.just(False), st.just(True), 1)):
        lines.append(f"{draw(st.sampled_from(list(unknown)))}: {draw(any_yaml)}")
    if lines and draw(mostly(st.just(False), st.just(True), 1)):
        lines.append(lines[0])  # a repeated key
    text = "\n".join(lines) + "\n"
    other = st.one_of(st.sampled_from(["", "- a\n- b\n", "just a string\n", "a: b: c\n", "\ufeffname: x\n"]), texts)
    text = draw(mostly(st.just(text), other, 1))
    return draw(mostly(st.just(text.encode("utf-8")), st.binary(max_size=30), 1))


# ----------------------------------------------------------------------------- tables (CSV, JSONL)
COLUMN_NAMES = ["sentence1", "sentence2", "score", "label", "text", "question", "answer", "sim", ""]
SCORES = ["0", "1", "2.5", "4", "5"]
BAD_CELLS = ["nan", "inf", "-inf", "1e999", "", " ", "high", "true", "6", "-1", "1" + "0" * 400, "1" * 5000]


def role_value(role: str, kind: str) -> st.SearchStrategy:
    """A good cell for a column of the task's ``kind`` (text, gold score or label)."""
    if role == "score":
        return st.sampled_from(SCORES)
    if role == "label":
        return st.sampled_from(["0", "1"] if kind == "pair-classification" else ["pos", "neg", "neutral"])
    return sentences


def cell_value(good: st.SearchStrategy = sentences) -> st.SearchStrategy:
    return mostly(good, st.one_of(st.sampled_from(BAD_CELLS), texts), 1)


@st.composite
def csv_bytes(draw: Callable, header: Sequence[str], cells: Sequence[st.SearchStrategy], delimiter: str = ",") -> bytes:
    """A CSV (or TSV) file: the header (sometimes with a column renamed or missing), rows that are now
    and then ragged, written by ``csv.writer`` or joined by hand (stray quotes and breaks unescaped)."""
    names = list(header)
    if draw(mostly(st.just(False), st.just(True), 1)):
        names[draw(st.integers(0, len(names) - 1))] = draw(st.sampled_from(COLUMN_NAMES))
    if draw(mostly(st.just(False), st.just(True), 1)) and len(names) > 1:
        names.pop()
    row = mostly(st.tuples(*map(cell_value, cells)).map(list), st.lists(cell_value(), max_size=5), 1)  # ragged
    rows = [names] + draw(st.lists(row, min_size=draw(mostly(st.just(4), st.just(0), 1)), max_size=8))
    if draw(st.booleans()):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(rows)
        text = buffer.getvalue()
    else:
        text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    return draw(mostly(st.just(text.encode("utf-8")), st.binary(max_size=30), 1))


def table_record(columns: Sequence[str], cells: Sequence[st.SearchStrategy]) -> st.SearchStrategy:
    """A JSONL row: each column's good value (as a JSON string, or a bare number where it is one), or any JSON."""
    good = [cell.map(lambda v: v if v.replace(".", "").isdigit() and len(v) < 5 else dumps(v)) for cell in cells]
    return json_object({c: mostly(g, any_json, 1) for c, g in zip(columns, good)})


# ----------------------------------------------------------------------------- the readers' inputs
beir_files = st.fixed_dictionaries(
    {
        "corpus.jsonl": jsonl_bytes(corpus_record, min_lines=4, id_prefix="d", clean=clean_corpus_record),
        "queries.jsonl": jsonl_bytes(query_record, min_lines=3, max_lines=4, id_prefix="q", clean=clean_query_record),
        "qrels/test.tsv": qrels_bytes(),
    },
    optional={
        "qrels/train.tsv": qrels_bytes(),
        "task.yaml": yaml_document({"name": mostly(sentences, any_yaml), "description": mostly(sentences, any_yaml)}),
    },
)


_ROLES = {"sts": ("sentence1", "sentence2", "score"), "pair-classification": ("sentence1", "sentence2", "label")}
_ROLES["classification"] = ("text", "label")
#: A data file name as task.yaml may give it: the file written, one that is missing, one outside the folder ...
_BAD_NAMES = ["missing.csv", "p.txt", "sub", "../outside.csv", "{OUTSIDE}", ".", "", "qrels"]


@st.composite
def table_task(draw) -> tuple[dict[str, bytes], str]:
    """A task.yaml naming a type, its data file(s) and columns, and the files it names."""
    kind = draw(st.sampled_from(sorted(_ROLES)))
    roles = _ROLES[kind]
    fmt = draw(st.sampled_from(["csv", "jsonl", "tsv"]))
    rename = draw(mostly(st.just({}), st.dictionaries(st.sampled_from(roles), st.sampled_from(["q", "a", "sim", "y"]))))
    header = [rename.get(c, c) for c in roles]
    cells = [role_value(role, kind) for role in roles]
    files: dict[str, bytes] = {}
    splits = ["train", "test"] if kind == "classification" else ["data"]
    yaml_lines = [f"type: {draw(mostly(st.just(kind), any_yaml, 1))}"]
    for split in splits:
        name = f"{split}.{fmt}"
        if fmt == "jsonl":
            files[name] = draw(jsonl_bytes(table_record(header, cells), min_lines=4, max_lines=8))
        else:
            files[name] = draw(csv_bytes(header, cells, "\t" if fmt == "tsv" else ","))
        given_name = draw(mostly(st.just(name), st.sampled_from([*_BAD_NAMES, f"./{name}", f"sub/../{name}"]), 1))
        yaml_lines.append(f"{split}: {yaml_scalar(given_name)}")
    files["p.txt"] = b"sentence1,sentence2,score\na,b,1\n"
    columns = "{" + ", ".join(f"{role}: {yaml_scalar(col)}" for role, col in rename.items()) + "}"
    if rename:
        yaml_lines.append(f"columns: {draw(mostly(st.just(columns), any_yaml, 1))}")
    optional = {
        "name": mostly(sentences.map(yaml_scalar), any_yaml),
        "min_score": mostly(st.sampled_from(["0", "0.0"]), any_yaml),
        "max_score": mostly(st.sampled_from(["5", "5.0"]), any_yaml),
        "licence": mostly(st.just("CC BY 4.0"), any_yaml),
        "description": mostly(sentences.map(yaml_scalar), any_yaml),
        "citation": mostly(st.just("''"), any_yaml),
    }
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        yaml_lines.append(f"{key}: {draw(optional[key])}")
    files["task.yaml"] = draw(mostly(st.just(("\n".join(yaml_lines) + "\n").encode()), yaml_document({}), 1))
    return files, fmt


_text = mostly(sentences.map(dumps), st.one_of(texts.map(dumps), any_json))
_strings = st.lists(sentences, max_size=3)
pair_record = json_object(
    {
        "key": mostly(st.sampled_from(["k1", "k2", "k3"]).map(dumps), any_json),
        "query": _text,
        "positive": _text,
        "negatives": mostly(_strings.map(dumps), st.one_of(any_json, st.lists(texts, max_size=2).map(dumps))),
        "persona": mostly(st.sampled_from(["analyst", None]).map(dumps), any_json),
        "kind": mostly(st.sampled_from(["short-long", "long-long", "sts", "classification"]).map(dumps), any_json),
        "doc_id": mostly(st.sampled_from(["a.txt", "b.txt"]).map(dumps), any_json),
        "chunk_id": mostly(st.sampled_from(["a.txt#0", "b.txt#1"]).map(dumps), any_json),
        "generator": mostly(st.sampled_from(["llm", "ict", "crop"]).map(dumps), any_json),
        "llm_model": mostly(st.sampled_from(["m", None]).map(dumps), any_json),
        "template_hash": mostly(st.sampled_from(["h", None]).map(dumps), any_json),
        "margins": mostly(
            st.lists(st.floats(-5, 5), max_size=3).map(dumps),
            st.one_of(
                any_json,
                st.lists(st.sampled_from(["NaN", "1e999", "1" + "0" * 400, "true", '"1"', "2"]), max_size=3).map(
                    lambda xs: "[" + ", ".join(xs) + "]"
                ),
            ),
        ),
    }
)


def config_setting(hint) -> st.SearchStrategy:
    """Well-typed YAML for a config field (out of range now and then), mixed with any YAML value."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else ()
    if options:
        hint = next(o for o in options if o is not type(None))
    if hint is bool:
        good = st.sampled_from(["true", "false"])
    elif hint is int:
        good = st.integers(-2, 3000).map(str)
    elif hint is float:
        good = st.one_of(
            st.floats(-1, 100, allow_nan=False).map(repr), st.sampled_from(["0.1", "2e-5", "1.0e-5", ".inf", ".nan"])
        )
    elif isinstance(hint, type) and issubclass(hint, StrEnum):
        good = st.sampled_from([m.value for m in hint])
    elif typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        good = st.lists(st.integers(-1, 512) if item is int else sentences, max_size=3).map(yaml_scalar)
    else:  # str, Path
        good = st.one_of(sentences.map(yaml_scalar), st.just("/tmp/x"))
    return mostly(good, any_yaml, 3)


def config_document(config_type, run_fields) -> st.SearchStrategy:
    hints = typing.get_type_hints(config_type)
    values = {f.name: config_setting(hints[f.name]) for f in fields(config_type) if f.name not in run_fields}
    return yaml_document(values, unknown=[*sorted(run_fields), "learning_rte", "1", "~"])


class BodyServer:
    """A loopback OpenAI-compatible endpoint that answers every request with the body it is given."""

    def __init__(self) -> None:
        self.status, self.headers, self.body = 200, {"content-type": "application/json"}, b"{}"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def answer_text(field: str) -> st.SearchStrategy:
    """What a model may write: the JSON object asked for (maybe fenced, prefixed, cut), or anything else."""
    value = mostly(sentences.map(dumps), any_json)
    obj = json_object({field: value, "contrast": mostly(sentences.map(dumps), any_json, 5)})
    wrapped = st.one_of(
        obj,
        obj.map(lambda t: f"```json\n{t}\n```"),
        obj.map(lambda t: f"Sure! {t} Hope that helps."),
        obj.map(lambda t: t[: len(t) // 2]),
    )
    refusals = st.sampled_from(["I'm sorry, but I can't help with that.", "As an AI, I cannot", ""])
    return mostly(wrapped, st.one_of(refusals, texts, any_json), 3)


def completion_body(field: str) -> st.SearchStrategy:
    """An endpoint's reply: a chat or text completion whose every part may be missing or mistyped."""
    content = mostly(answer_text(field).map(dumps), any_json)
    message = json_object(
        {"role": st.just('"assistant"'), "content": content, "refusal": mostly(st.just("null"), any_json, 1)}
    )
    choice = json_object(
        {
            "index": st.just("0"),
            "message": mostly(message, any_json, 1),
            "text": content,
            "finish_reason": mostly(st.sampled_from(['"stop"', '"length"']), any_json, 1),
        }
    )
    usage = json_object(
        {"prompt_tokens": mostly(st.just("12"), any_json), "completion_tokens": mostly(st.just("7"), any_json)}
    )
    body = json_object(
        {
            "id": st.just('"x"'),
            "object": st.just('"chat.completion"'),
            "created": mostly(st.just("1"), any_json, 1),
            "model": st.just('"m"'),
            "choices": mostly(
                st.lists(choice, min_size=1, max_size=2).map(lambda cs: "[" + ", ".join(cs) + "]"), any_json
            ),
            "usage": mostly(usage, any_json, 1),
        }
    )
    return mostly(body.map(str.encode), st.one_of(st.binary(max_size=20), any_json.map(str.encode)), 1)


reply_headers = st.fixed_dictionaries(
    {
        "content-type": mostly(
            st.just("application/json"),
            st.sampled_from(["text/html", "text/plain", "application/json; charset=latin-1", ""]),
            1,
        )
    },
    optional={
        "retry-after": st.sampled_from(
            [
                "1e999",
                "nan",
                "-1",
                "0",
                "Wed, 21 Oct 2015 07:28:00 GMT",
                "Wed, 21 Oct 99999 07:28:00 GMT",
                "soon",
                "9" * 400,
            ]
        ),
        "retry-after-ms": st.sampled_from(["inf", "nan", "-5", "0", "x", "9" * 400]),
    },
)


def _adapt_documents() -> st.SearchStrategy:
    from domainemb.adapt import config

    return config_document(config.AdaptConfig, config.RUN_FIELDS)


def _prune_documents() -> st.SearchStrategy:
    from domainemb.prune import config

    return config_document(config.PruneConfig, config.RUN_FIELDS)


#: YAML files of adapt and prune settings (built when first drawn: the configs import the suites).
adapt_documents = st.deferred(_adapt_documents)
prune_documents = st.deferred(_prune_documents)


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder
