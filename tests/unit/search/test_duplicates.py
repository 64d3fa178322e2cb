"""Near-duplicate groups on constructed vectors: exact groups, transitive closure, edges, blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clipvec.errors import ClipvecError
from clipvec.search.duplicates import (
    DuplicateOptions,
    component_labels,
    find_duplicates,
    iso_date,
    member_json,
)
from clipvec.store import ImageRecord

DIM = 16


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def at_cosine(base: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector whose cosine with unit ``base`` is exactly ``cosine``."""
    other = np.random.default_rng(seed).standard_normal(DIM)
    other -= other.dot(base) * base
    other /= np.linalg.norm(other)
    return (cosine * base + math.sqrt(1 - cosine**2) * other).astype(np.float32)


def record(
    path: str, vector: np.ndarray | None, *, size: int = 100, wh: tuple[int, int] = (10, 10)
) -> ImageRecord:
    return ImageRecord(path.ljust(64, "0")[:64], [path], size, 1_700_000_000.0, wh[0], wh[1], "JPEG", vector)


def paths(groups) -> list[list[str]]:
    return [[r.path for r in g.records] for g in groups]


def test_groups_are_exact_and_biggest_first():
    a, b = unit(1), unit(2)
    records = [
        record("a1.jpg", a),
        record("lone.jpg", unit(3)),
        record("b1.jpg", b),
        record("a2.jpg", at_cosine(a, 0.99, 10), wh=(20, 20)),
        record("b2.jpg", at_cosine(b, 0.97, 11), size=500),
        record("a3.jpg", at_cosine(a, 0.98, 12), size=900),
    ]
    groups = find_duplicates(records, 0.95).groups
    # members: most pixels first, then the biggest file, then by path
    assert paths(groups) == [["a2.jpg", "a3.jpg", "a1.jpg"], ["b2.jpg", "b1.jpg"]]


def test_groups_are_transitive_closed():
    # a~b and b~c above the threshold, a~c below it: still one group
    a = unit(5)
    b = at_cosine(a, 0.96, 6)
    c = at_cosine(b, 0.96, 7)
    assert float(a @ c) < 0.95
    groups = find_duplicates([record("a", a), record("b", b), record("c", c)], 0.95).groups
    assert paths(groups) == [["a", "b", "c"]]


def test_threshold_edges():
    a = unit(8)
    close = at_cosine(a, 0.9, 9)
    cosine = float(a @ close)
    pair = [record("a", a), record("b", close)]
    assert paths(find_duplicates(pair, cosine - 1e-4).groups) == [["a", "b"]]
    assert find_duplicates(pair, min(1.0, cosine + 1e-4)).groups == []
    identical = [record("x", a), record("y", a.copy())]
    assert paths(find_duplicates(identical, 1.0 - 1e-6).groups) == [["x", "y"]]


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, math.nan, math.inf])
def test_a_threshold_outside_0_to_1_is_refused(bad):
    with pytest.raises(ClipvecError) as err:
        find_duplicates([], bad)
    assert err.value.code == "bad_parameter"


def test_vectors_need_not_be_normalised():
    a = unit(13)
    groups = find_duplicates([record("a", a * 7.0), record("b", at_cosine(a, 0.99, 14) * 0.01)], 0.95).groups
    assert paths(groups) == [["a", "b"]]


def test_path_prefix_keeps_only_records_under_it():
    a = unit(15)
    records = [
        record("trip/a.jpg", a),
        record("trip/b.jpg", at_cosine(a, 0.99, 16)),
        record("home/c.jpg", at_cosine(a, 0.99, 17)),
    ]
    assert paths(find_duplicates(records, 0.95, path_prefix="trip/").groups) == [["trip/a.jpg", "trip/b.jpg"]]
    assert len(find_duplicates(records, 0.95, path_prefix="").groups[0].records) == 3  # empty: no prefix
    assert find_duplicates(records, 0.95, path_prefix="home/").groups == []
    with pytest.raises(ClipvecError):
        find_duplicates(records, 0.95, path_prefix="bad\nprefix")


def test_empty_and_vectorless_collections_have_no_groups():
    a = unit(18)
    assert find_duplicates([], 0.95).groups == []
    assert find_duplicates([record("a", a)], 0.95).groups == []
    zero = np.zeros(DIM, dtype=np.float32)
    assert (
        find_duplicates([record("a", None), record("b", None), record("z", zero), record("c", a)]).groups
        == []
    )


def test_groups_across_block_boundaries_match_one_block():
    rng = np.random.default_rng(21)
    centres = [unit(100 + i) for i in range(6)]
    vectors = []
    for k in range(53):  # members of one group land in different blocks of 4 rows
        if k % 3 == 0:
            vectors.append(unit(1000 + k))
        else:
            vectors.append(at_cosine(centres[k % 6], 0.99, 2000 + k))
    matrix = np.stack(vectors)
    rng.shuffle(matrix)
    whole = component_labels(matrix, 0.95, block=len(matrix))
    for block in (1, 4, 7, 52, 53):
        assert np.array_equal(component_labels(matrix, 0.95, block=block), whole)
    brute = matrix @ matrix.T >= 0.95
    for i in range(len(matrix)):  # every pair above the threshold shares a label
        assert all(whole[j] == whole[i] for j in np.nonzero(brute[i])[0])
    lone = sum(1 for k in range(53) if k % 3 == 0)
    assert len(set(whole.tolist())) == lone + 4  # centres 1, 2, 4 and 5 have members


def test_a_chain_longer_than_a_block_is_one_group():
    # each vector close only to its neighbours: the closure must cross every block
    base = unit(30)
    chain = [base]
    for k in range(40):
        chain.append(at_cosine(chain[-1], 0.97, 300 + k))
    labels = component_labels(np.stack(chain), 0.95, block=3)
    assert set(labels.tolist()) == {0}


def test_member_json_lists_what_a_person_chooses_by():
    r = ImageRecord("h" * 64, [f"p{i}.jpg" for i in range(7)], 1234, 1_700_000_000.5, 640, 480, "PNG")
    assert member_json(r) == {
        "content_hash": "h" * 64,
        "path": "p0.jpg",
        "paths": [f"p{i}.jpg" for i in range(5)],
        "path_count": 7,
        "size": 1234,
        "width": 640,
        "height": 480,
        "format": "PNG",
        "mtime": "2023-11-14T22:13:20+00:00",
    }
    assert iso_date(0.0) is None
    assert iso_date(math.nan) is None


def test_options_from_the_query_string():
    options = DuplicateOptions.from_query({"threshold": "0.9", "path_prefix": "trip/", "limit": "7"}, 50)
    assert options == DuplicateOptions(0.9, "trip/", 7)
    assert DuplicateOptions.from_query({}, 50) == DuplicateOptions(0.95, None, 50)
    for bad in ({"threshold": "abc"}, {"threshold": "nan"}, {"threshold": "0"}, {"threshold": "1.01"},
                {"limit": "0"}, {"limit": "-1"}, {"limit": "1001"}, {"limit": "5.0"},
                {"path_prefix": "a\x00b"}):  # fmt: skip
        with pytest.raises(ClipvecError) as err:
            DuplicateOptions.from_query(bad, 50)
        assert err.value.code == "bad_parameter" and err.value.status == 400, bad


def test_the_answer_shows_the_biggest_groups_and_counts_them_all():
    a, b = unit(40), unit(41)
    records = [record("a1", a), record("a2", a), record("a3", a), record("b1", b), record("b2", b)]
    answer = find_duplicates(records, 0.95).as_json(DuplicateOptions(0.95, None, 1))
    assert answer["images"] == 5 and answer["group_count"] == 2
    assert [[m["path"] for m in g["images"]] for g in answer["groups"]] == [["a1", "a2", "a3"]]
    assert answer["groups"][0]["count"] == 3
