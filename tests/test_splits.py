"""The shared split helpers: deterministic, order-independent, label-stratified."""

from domainemb.domains.splits import classification_halves, halves, native_split, unambiguous


def test_halves_is_deterministic_order_independent_and_stratified():
    rows = [(f"t{i}", "a" if i % 3 else "b") for i in range(30)]
    split = halves(rows)
    assert split == halves(list(reversed(rows)))
    assert len(split["train"]) == len(split["test"]) == 15
    for label in "ab":
        n_train = sum(y == label for _, y in split["train"])
        n_test = sum(y == label for _, y in split["test"])
        assert abs(n_train - n_test) <= 1
    assert halves(rows, seed=7) != split


def test_classification_halves_drops_singleton_labels():
    rows = [(f"t{i}", "a" if i % 3 else "b") for i in range(30)] + [("lonely", "c")]
    tables = classification_halves(rows)
    assert "c" not in tables["train"]["label"].to_list() + tables["test"]["label"].to_list()
    assert set(tables["test"]["label"]) <= set(tables["train"]["label"])


def test_unambiguous_and_native_split():
    assert unambiguous([("x", "1"), ("x", "2"), ("y", "1"), ("y", "1"), (" ", "1")]) == [("y", "1")]
    split = native_split([("a", "1"), ("b", "2")], [("b", "2"), ("c", "1")])
    assert split == {"train": [("a", "1")], "test": [("b", "2"), ("c", "1")]}
