"""The plan on disk (issue 20 item 6) answers exactly as the in-memory plan did, a chunk at a time.

``old_plan`` is main's plan before the index (dicts of every stored record), kept here as
the reference: the chunked plan must give the same files to read, the same counts and
skips, the same records by path and by hash, and the merge over it the same collection.
Chunks of 2 put every neighbour (renames, copies, paths that sort next to each other) on
different sides of a chunk boundary.
"""

from __future__ import annotations

import gc
import weakref
from concurrent.futures import Future

import numpy as np
import pytest
from plan_helpers import LIMIT, plan_of

from clipvec.indexing.merge import Merger
from clipvec.indexing.plan import Plan
from clipvec.indexing.plan_index import PlanIndex
from clipvec.indexing.report import FileFailure, ImportReport
from clipvec.indexing.skip_memory import SkipMemory
from clipvec.indexing.stage import Work
from clipvec.indexing.writer import RecordWriter
from clipvec.sources import FoundFile, Scanned
from clipvec.store import PATHS_KEPT, ImageRecord

T = 1_700_000_000.0
H = {name: f"{i:064x}" for i, name in enumerate("abcdefghijklmnop", start=1)}
NFC, NFD = "c/\u00e9.png", "c/e\u0301.png"  # the same name to a person, other bytes to a file system
ESCAPED = "caf\\xe9.jpg"  # a name that is not UTF-8, as the folder scan stores it
KEPT = [f"k/{i:03d}.png" for i in range(PATHS_KEPT)]


def rec(key: str, paths: list[str], size: int = 10, mtime: float = T) -> ImageRecord:
    return ImageRecord(H[key], paths, size, mtime, 8, 8, "PNG", np.ones(512, np.float32))


STORED = [
    rec("a", ["a.png"]),  # unchanged
    rec("b", ["a.png ", "a.pnG"]),  # neighbours of a.png in byte order; the copy a.pnG is read again
    rec("c", [NFC]),  # listed as NFD: another path
    rec("d", [ESCAPED]),  # unchanged
    rec("e", ["gone/x.png"]),  # deleted from the folder
    rec("f", ["moved/from.png"]),  # renamed to zz/to.png (across the listing)
    rec("g", KEPT),  # a record that lists all it keeps; k/extra.png is a further copy
    rec("h", ["touched.png"], mtime=T - 5),  # same size, other mtime: read
    rec("i", ["grown.png"], size=9),  # other size: read
    rec("j", ["dup.png"]),  # two records list dup.png (a repair left it so): the later one wins
    rec("k", ["dup.png", "k.png"]),
    rec("l", ["copied.png"]),  # copied.png's bytes are also at copy.png (skip memory knows it)
    rec("m", ["a.png/x"]),  # a folder named like a file
]
LISTING = [
    FoundFile(p, size, mtime)
    for p, size, mtime in [
        ("a.png", 10, T),
        ("a.png ", 10, T),
        ("a.pnG", 10, T + 1),
        (NFD, 10, T),
        (ESCAPED, 10, T),
        ("zz/to.png", 10, T + 7),
        *((p, 10, T) for p in KEPT),
        ("k/extra.png", 10, T + 3),
        ("touched.png", 10, T),
        ("grown.png", 10, T),
        ("dup.png", 10, T),
        ("k.png", 10, T),
        ("copied.png", 10, T),
        ("copy.png", 10, T + 2),
        ("big.png", LIMIT + 1, T),
        ("movie.mp4", 20, T),
        ("new.png", 10, T),
        ("a.png/x", 10, T),
    ]
]


def memory_of(folder) -> SkipMemory:
    memory = SkipMemory(folder / ".clipvec-skipped.json", 100)
    memory.remember_copy(FoundFile("k/extra.png", 10, T + 3), H["g"])
    memory.remember_copy(FoundFile("copy.png", 10, T + 2), H["l"])
    memory.remember(FoundFile("movie.mp4", 20, T), "not_image", "not an image", failed=False)
    memory.save({f.rel_path for f in LISTING})
    return memory


def old_plan(store, found: list[FoundFile], memory: SkipMemory, report: ImportReport) -> Plan:
    """main's plan before issue 20 item 6, verbatim but for the scan (given) and the skips."""
    by_path: dict[str, ImageRecord] = {}
    by_hash: dict[str, ImageRecord] = {}
    for record in store.iter_records():
        by_hash[record.content_hash] = record
        for path in record.paths:
            by_path[path] = record
    todo = []
    for f in found:
        rec_ = by_path.get(f.rel_path)
        copy_of = memory.copy_of(f)
        if rec_ is not None:
            same_mtime = rec_.paths[0] == f.rel_path and abs(rec_.mtime - f.mtime) < 1e-3
            unchanged = rec_.size == f.size and (same_mtime or copy_of == rec_.content_hash)
        else:
            full = by_hash.get(copy_of) if copy_of is not None else None
            unchanged = full is not None and len(full.paths) >= PATHS_KEPT
        if unchanged:
            report.unchanged += 1
        elif (known := memory.get(f)) is not None:
            reason, detail, failed = known
            (report.known_broken if failed else report.skipped_files).append(
                FileFailure(f.rel_path, reason, detail)
            )
        elif f.size > LIMIT:
            report.skipped_files.append(
                FileFailure(
                    f.rel_path,
                    "too_large",
                    f"{f.size} bytes, over the limit of {LIMIT} (CLIPVEC_MAX_FILE_BYTES)",
                )
            )
        else:
            todo.append(f)
    return Plan(found, todo, by_path, by_hash, memory)


def new_plan(store, folder, report: ImportReport, chunk: int = 2, in_memory_max: int = 0) -> Plan:
    scanned: Future[Scanned] = Future()
    scanned.set_result(Scanned(list(LISTING), []))
    return plan_of(store, folder, report, scanned=scanned, chunk=chunk, in_memory_max=in_memory_max)


def owns(path: str) -> bool:
    return not path.startswith("s3://")


@pytest.mark.parametrize(
    ("chunk", "in_memory_max"),
    [(1, 0), (2, 0), (3, 0), (1000, 0), (2, len(STORED) - 1), (2, len(STORED)), (2, 1000)],
)
def test_the_chunked_plan_equals_the_old_plan(lite_store, folder, chunk, in_memory_max):
    """On disk (up to ``in_memory_max`` records: in dicts, as before) the plan is the old one."""
    lite_store.upsert(STORED)
    memory_of(folder)
    want_report, got_report = ImportReport(), ImportReport()
    want = old_plan(lite_store, list(LISTING), SkipMemory.load(folder, 100), want_report)
    got = new_plan(lite_store, folder, got_report, chunk, in_memory_max)
    assert (got.index is None) == (len(STORED) <= in_memory_max)
    try:
        assert got.todo == want.todo
        # k/001..k/099 are copies (not their record's first path) the skip memory does not know
        assert [f.rel_path for f in got.todo if not f.rel_path.startswith("k/")] == [
            "a.pnG",
            NFD,
            "zz/to.png",
            "touched.png",
            "grown.png",
            "k.png",  # a copy, not its record's first path: its mtime is not stored
            "copy.png",  # the skip memory knows it, but its record can still list it
            "new.png",
        ]
        assert len(got.todo) == 8 + PATHS_KEPT - 1
        assert (got_report.unchanged, got_report.skipped_files, got_report.known_broken) == (
            want_report.unchanged,
            want_report.skipped_files,
            want_report.known_broken,
        )
        assert set(got.by_hash) == set(want.by_hash) and len(got.by_hash) == len(STORED)
        for h, record in want.by_hash.items():
            assert got.by_hash[h].paths == record.paths and got.by_hash[h].mtime == record.mtime
        for path in {f.rel_path for f in LISTING} | {p for r in STORED for p in r.paths} | {"nowhere.png"}:
            want_rec, got_rec = want.by_path.get(path), got.by_path.get(path)
            assert (got_rec and got_rec.content_hash) == (want_rec and want_rec.content_hash), path
        assert got.by_path["dup.png"].content_hash == H["k"]
        assert (
            Merger(got, None, ImportReport(), owns).gone()
            == Merger(want, None, ImportReport(), owns).gone()
            == 3  # gone/x.png, moved/from.png and the NFC name
        )
    finally:
        got.close()


def works() -> list[Work]:
    """What the stage hands back for the new plan's todo, plus contents that moved and changed."""
    vec = np.full(512, 0.5, np.float32)
    return [
        Work(FoundFile("a.pnG", 10, T + 1), H["b"]),  # the copy, read again: unchanged
        Work(FoundFile(NFD, 10, T), H["c"]),  # the NFC file renamed to its NFD name
        Work(FoundFile("zz/to.png", 10, T + 7), H["f"]),  # a rename across the listing
        Work(FoundFile("touched.png", 10, T), H["h"]),  # touched: its mtime is updated
        Work(FoundFile("grown.png", 10, T), H["n"], vec, "PNG", 4, 4),  # changed content: i is dropped
        Work(FoundFile("new.png", 10, T), H["n"]),  # the same new content again: a copy of it
        Work(FoundFile("dup.png", 10, T + 9), H["a"]),  # dup.png now holds a's bytes
    ]


def merged(store, plan: Plan) -> tuple[dict[str, list[str]], tuple[int, int, int], int]:
    report = ImportReport()
    writer = RecordWriter(store, 2, report)
    merger = Merger(plan, writer, report, owns)
    for work in works():
        merger.add(work)
    writer.finish()
    gone = merger.gone()
    pruned = writer.prune(merger.seen, owns)
    contents = {r.content_hash: r.paths for r in store.iter_records()}
    return contents, (report.imported, report.reused, report.unchanged), gone * 1000 + pruned


def test_a_merge_over_the_chunked_plan_leaves_the_collection_the_old_one_did(lite_store, folder):
    memory_of(folder)
    lite_store.upsert(STORED)
    want = merged(
        lite_store, old_plan(lite_store, list(LISTING), SkipMemory.load(folder, 100), ImportReport())
    )
    lite_store.delete([r.content_hash for r in lite_store.iter_records()])
    lite_store.upsert(STORED)
    plan = new_plan(lite_store, folder, ImportReport())
    try:
        got = merged(lite_store, plan)
    finally:
        plan.close()
    assert got == want
    contents, counts, _ = got
    assert contents[H["f"]] == ["zz/to.png"] and contents[H["n"]] == ["grown.png", "new.png"]
    assert H["i"] not in contents and H["e"] not in contents  # changed away; deleted (pruned)
    assert counts == (1, 4, 2)


def test_paths_are_compared_by_their_exact_bytes(tmp_path):
    """Lone surrogates (a name ``os.fsdecode`` could not decode) and NULs survive the index."""
    index = PlanIndex(chunk=1, folder=str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # unlinked once open: a killed import leaves no file behind
    odd = ["x\udce9.png", "x\u00e9.png", "x\x00.png", "x.png", "x\\xe9.png"]
    try:
        index.add_records(ImageRecord(f"{i:064x}", [p], 1, T, 1, 1, "PNG") for i, p in enumerate(odd))
        index.add_found(FoundFile(p, 1, T) for p in reversed(odd[1:]))
        index.finish()
        assert [index.hash_at(p) for p in odd] == [f"{i:064x}" for i in range(len(odd))]
        assert [m.content_hash for m in index.matches()] == [f"{i:064x}" for i in range(len(odd) - 1, 0, -1)]
        assert list(index.unlisted_paths()) == ["x\udce9.png"]
        assert index.record(f"{0:064x}").paths == ["x\udce9.png"]
    finally:
        index.close()
    assert list(tmp_path.iterdir()) == []  # nothing left on disk


def test_no_more_than_a_chunk_of_records_is_held_at_once(tmp_path):
    """The bound is the number of records alive at once, not time: counted with weak references."""
    alive: list[weakref.ref] = []
    most = 0

    def records(n: int):
        nonlocal most
        for i in range(n):
            record = ImageRecord(f"{i:064x}", [f"p/{i}.png"], 1, T, 1, 1, "PNG")
            alive.append(weakref.ref(record))
            most = max(most, sum(r() is not None for r in alive))
            yield record
            del record

    index = PlanIndex(chunk=7, folder=str(tmp_path))
    try:
        assert index.add_records(records(100)) == 100
        gc.collect()
        assert 7 <= most <= 8  # one chunk, and the one being made
        assert sum(r() is not None for r in alive) == 0
        assert index.count() == 100 and index.has(f"{99:064x}")
    finally:
        index.close()


def test_the_merge_sees_what_it_wrote_and_a_dropped_record_is_gone(tmp_path):
    index = PlanIndex(chunk=3, folder=str(tmp_path))
    try:
        index.add_records([rec("a", ["a.png", "b.png"])])
        index.add_found([FoundFile("b.png", 10, T)])
        index.finish()
        meta_rec = rec("b", ["c.png"])
        index.put(meta_rec)
        index.set_path("c.png", H["b"])
        assert index.record(H["b"]).paths == ["c.png"]
        np.testing.assert_array_equal(index.record(H["b"]).vector, np.ones(512, np.float32))
        assert sorted(index.unlisted_paths()) == ["a.png", "c.png"]
        assert index.drop(H["a"]) and not index.has(H["a"])
        assert list(index.unlisted_paths()) == ["c.png"]
        assert list(index.hashes()) == [H["b"]]
    finally:
        index.close()
