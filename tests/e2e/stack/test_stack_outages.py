"""What a robust system must survive, on the full stack, under load.

Each test: the service answers 10 clients searching without pause while an import writes
into another collection (and, for etcd, two clients add images through ``/add_image``); one
component is SIGKILLed (or the whole stack goes down) and brought back with
``tools/stack.sh up``. Then:

* every answer was 200 with exactly the results from before, or 503 ``store_unavailable``;
  never a 500, never a hang;
* every add answered 200 or 503 ``store_unavailable``, the service adds again (200) once the
  stack is back, and every name an add acknowledged with 200 is in its record;
* the searched collection has the same count and the same hits as before;
* the import exited 0 (it rode through) or 2 (it could not write), and a second run
  finishes it with exactly one entry per image, encoding only what was missing.

The tests share the package's stack and run in file order (the last one wipes Milvus's
local folder, so the state must come back from etcd and S3 alone).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from import_process import run_import, start_import, wait_for_writes
from stack_harness import COLLECTION, Stack

from clipvec.model.shapes import HELD_OUT_SEED_START, draw_shape
from clipvec.store import ImageStore

pytestmark = pytest.mark.stack

CLIENTS = 10
QUERIES = ("a red circle", "a blue square", "a green triangle")
# The store's own timeout is 30 s; an answer later than this counts as a hang.
HANG_S = 45.0
OUTAGE_S = 4.0  # how long a component stays dead while the clients keep searching
# etcd's outage. Milvus 2.3.5 rode out 20 s without it; after 32 s it had given its sessions
# up and answered "service not ready" ~9 s after etcd was back (2 of 2 runs: 22 x 500 on
# /add_image and 166 on search with main's code); after 60 s it stopped itself instead.
ETCD_DOWN_S = 32.0
NOT_READY_WAIT_S = 30.0  # for Milvus to say so once etcd is back
RECOVERY_S = 180.0
N_IMPORT = 48
WRITERS = 2  # clients adding images during the outage (etcd's test)


@dataclass
class Answer:
    query: str
    started: float
    seconds: float
    status: int  # 0: no answer (exception or timeout)
    body: dict | None
    error: str = ""


def search(url: str, query: str) -> Answer:
    t0 = time.monotonic()
    try:
        resp = requests.post(
            url + "/search_text?top_k=5",
            data=query,
            headers={"Content-Type": "text/plain"},
            timeout=HANG_S,
        )
    except requests.RequestException as exc:
        return Answer(query, t0, time.monotonic() - t0, 0, None, repr(exc))
    try:
        body = resp.json()
    except ValueError:
        body = {"unparsable": resp.text[:300]}
    return Answer(query, t0, time.monotonic() - t0, resp.status_code, body)


def hits(body: dict) -> list[tuple[str, float]]:
    return [(h["path"], h["score"]) for h in body["hits"]]


def same_hits(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    return [p for p, _ in a] == [p for p, _ in b] and all(
        abs(x - y) < 1e-3 for (_, x), (_, y) in zip(a, b, strict=True)
    )


class Searchers:
    """``CLIENTS`` threads searching the service until stopped; every answer is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def _run(self, i: int) -> None:
        n = i
        while not self._stop.is_set():
            answer = search(self.url, QUERIES[n % len(QUERIES)])
            n += 1
            with self._lock:
                self.answers.append(answer)
            time.sleep(0.2)  # 10 clients, yet CPU left for the import on 2 cores

    def __enter__(self) -> Searchers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=HANG_S + 10)


@dataclass
class Added:
    name: str
    answer: Answer


class Writers:
    """``WRITERS`` threads adding images through ``/add_image`` until stopped.

    Each adds the bytes of the searched shapes under new names: the collection keeps its 48
    records and its search answers (a new name goes after the first one), and each content
    is added by one thread only (two names for the same bytes at once is issue 21 item 4).
    """

    def __init__(self, url: str, shapes: list[Path], tag: str) -> None:
        self.url = url
        self.shapes = shapes
        self.tag = tag
        self.added: list[Added] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(WRITERS)]

    def add(self, writer: int, n: int) -> Added:
        mine = self.shapes[writer::WRITERS]
        name = f"{self.tag}_w{writer}_{n}.png"
        data = mine[n % len(mine)].read_bytes()
        t0 = time.monotonic()
        try:
            resp = requests.post(self.url + "/add_image", params={"name": name}, data=data, timeout=HANG_S)
        except requests.RequestException as exc:
            return Added(name, Answer(name, t0, time.monotonic() - t0, 0, None, repr(exc)))
        try:
            body = resp.json()
        except ValueError:
            body = {"unparsable": resp.text[:300]}
        return Added(name, Answer(name, t0, time.monotonic() - t0, resp.status_code, body))

    def _run(self, i: int) -> None:
        n = 0
        while not self._stop.is_set():
            added = self.add(i, n)
            n += 1
            with self._lock:
                self.added.append(added)
            time.sleep(0.3)

    def add_until_ok(self) -> Answer:
        """One more add, repeated until 200 (the stack is back): the service writes again."""
        t0 = time.monotonic()
        n = 10_000
        while True:
            added = self.add(0, n)
            n += 1
            self.added.append(added)
            if added.answer.status != 503 or time.monotonic() - t0 > RECOVERY_S:
                return added.answer
            time.sleep(0.5)

    def __enter__(self) -> Writers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=HANG_S + 10)


def add_problems(added: list[Added], uri: str) -> list[str]:
    """What went wrong with the adds: an answer other than 200/503, or a 200 whose name is not stored."""
    problems: list[str] = []
    answers = [a.answer for a in added]
    bad = [a for a in answers if a.status not in (200, 503)]
    if bad:
        problems.append(f"{len(bad)} adds answered neither 200 nor 503, e.g. {bad[:3]}")
    not_coded = [a for a in answers if a.status == 503 and (a.body or {}).get("error") != "store_unavailable"]
    if not_coded:
        problems.append(f"{len(not_coded)} add 503s without store_unavailable, e.g. {not_coded[:2]}")
    acknowledged = [a for a in added if a.answer.status == 200]
    if not acknowledged:
        problems.append("no add was acknowledged")
        return problems
    from pymilvus import MilvusClient

    hashes = sorted({a.answer.body["content_hash"] for a in acknowledged})
    client = MilvusClient(uri=uri, timeout=60)
    try:
        rows = client.query(
            COLLECTION,
            filter=f"content_hash in {json.dumps(hashes)}",
            output_fields=["content_hash", "paths"],
            consistency_level="Strong",
            timeout=60,
        )
    finally:
        client.close()
    stored = {row["content_hash"]: list(row["paths"]) for row in rows}
    lost = [
        a.name
        for a in acknowledged
        if not any(p.endswith("-" + a.name) for p in stored.get(a.answer.body["content_hash"], []))
    ]
    if lost:
        problems.append(
            f"{len(lost)} of {len(acknowledged)} names acknowledged with 200 are not stored: {lost[:5]}"
        )
    return problems


@pytest.fixture(scope="module")
def import_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("outage-import")
    colors, shapes = ("red", "green", "blue", "yellow"), ("circle", "square", "triangle")
    for i in range(N_IMPORT):
        draw_shape(colors[i % 4], shapes[i % 3], size=96, seed=HELD_OUT_SEED_START + 1_400_000 + i).save(
            folder / f"img_{i:03d}.png"
        )
    return folder


@pytest.fixture(scope="module")
def before(service) -> dict[str, list[tuple[str, float]]]:
    """The searched collection's answers before any outage."""
    answers = {q: search(service.url, q) for q in QUERIES}
    for q, a in answers.items():
        assert a.status == 200 and len(a.body["hits"]) == 5, (q, a)
    return {q: hits(a.body) for q, a in answers.items()}


def import_env(stack: Stack, collection: str, model: Path, images: Path) -> dict[str, str]:
    """The import of ``images`` as the images folder: its files are stored by their names."""
    return {
        **os.environ,
        "CLIPVEC_IMAGES_DIR": str(images),
        "HF_HUB_OFFLINE": "1",
        "CLIPVEC_MODEL": str(model),
        "CLIPVEC_MILVUS_URI": stack.uri,
        "CLIPVEC_COLLECTION": collection,
        "CLIPVEC_UPSERT_BATCH": "2",
        "CLIPVEC_BATCH_SIZE": "2",
        "CLIPVEC_THREADS": "1",
    }


def stored_names(uri: str, collection: str, model: Path) -> list[str]:
    with ImageStore(uri, collection=collection, model_name=str(model), dim=512, timeout=60) as store:
        records = list(store.iter_records())
        assert store.count() == len(records)
        return sorted(p for r in records for p in r.paths)


def wait_recovered(url: str, before: dict[str, list[tuple[str, float]]]) -> float:
    """Seconds until every query answers 200 with the results from before."""
    t0 = time.monotonic()
    last: dict[str, Answer] = {}
    while time.monotonic() - t0 < RECOVERY_S:
        last = {q: search(url, q) for q in QUERIES}
        if all(a.status == 200 and same_hits(hits(a.body), before[a.query]) for a in last.values()):
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"the service did not come back with the same results in {RECOVERY_S}s: {last}")


def run_outage(
    stack: Stack,
    service,
    before: dict[str, list[tuple[str, float]]],
    folder: Path,
    model: Path,
    collection: str,
    outage: Callable[[], None],
    recover: Callable[[], None],
    writers: Writers | None = None,
) -> None:
    env = import_env(stack, collection, model, folder)
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    # The import first: starting Python, torch and the model on 2 busy cores takes long.
    proc = start_import(folder, env)
    wait_for_writes(proc, writes=1)
    phases["import writing"] = time.monotonic() - t0
    with Searchers(service.url) as searchers, writers or contextlib.nullcontext():
        time.sleep(1.0)  # the clients are searching (and adding) before anything breaks
        import_running_at_outage = proc.poll() is None
        t_down = time.monotonic()
        outage()
        time.sleep(OUTAGE_S)
        recover()
        t_up = time.monotonic()
        phases["outage and repair"] = t_up - t_down
        wait_recovered(service.url, before)
        phases["service recovered"] = time.monotonic() - t_up
        time.sleep(1.0)
    if writers is not None:
        again = writers.add_until_ok()
        phases["adds again"] = time.monotonic() - t_up
    out, _ = proc.communicate(timeout=300)
    phases["import ended"] = time.monotonic() - t0

    answers = searchers.answers
    unavailable = [a for a in answers if a.status == 503]
    slowest = max(a.seconds for a in answers)
    print(
        f"\n{collection}: import exit {proc.returncode}, {len(answers)} answers "
        f"({len(unavailable)} x 503, slowest {slowest:.1f}s); "
        + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())
    )
    # The service's answers; checked last, so that a failure here still shows whether the
    # data came through (the service's reconnect logic is a separate concern from the stack).
    problems: list[str] = []
    bad = [a for a in answers if a.status not in (200, 503)]
    if bad:
        problems.append(f"{len(bad)} answers neither 200 nor 503, e.g. {bad[:3]}")
    not_coded = [a for a in unavailable if (a.body or {}).get("error") != "store_unavailable"]
    if not_coded:
        problems.append(f"{len(not_coded)} 503s without store_unavailable, e.g. {not_coded[:2]}")
    wrong = [a for a in answers if a.status == 200 and not same_hits(hits(a.body), before[a.query])]
    if wrong:
        problems.append(f"{len(wrong)} answers of 200 with other results than before, e.g. {wrong[:2]}")
    if slowest >= HANG_S:
        problems.append(f"a request hung for {slowest:.0f}s")
    if not [a for a in answers if t_down <= a.started <= t_up]:
        problems.append("no search was answered during the outage")
    if writers is not None:
        adds = [a.answer for a in writers.added]
        print(
            f"{len(adds)} adds: "
            + ", ".join(f"{n} x {s}" for s, n in sorted(Counter(a.status for a in adds).items()))
        )
        if again.status != 200:
            problems.append(f"the service did not add again after the outage: {again}")
        if not [a for a in adds if t_down <= a.started <= t_up]:
            problems.append("no add was answered during the outage")
        problems += add_problems(writers.added, stack.uri)

    # The searched collection: same count after the outage.
    info = requests.post(service.url + "/collection_info", json={}, timeout=60).json()
    assert info["count"] == 48, info

    # The import: rode through (0) or failed cleanly (2), then resumes exactly.
    assert import_running_at_outage or proc.returncode == 0
    assert proc.returncode in (0, 2), out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    partial = stored_names(stack.uri, collection, model)
    assert len(partial) == len(set(partial))
    rerun = run_import(folder, env)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert f"imported {N_IMPORT - len(partial)}," in rerun.stdout, (len(partial), rerun.stdout)
    assert stored_names(stack.uri, collection, model) == sorted(f"img_{i:03d}.png" for i in range(N_IMPORT))
    assert not problems, "\n".join(problems)


@pytest.fixture
def outage_run(stack, service, before, import_folder, tiny_model_dir, shapes_folder) -> Callable[..., None]:
    """``run_outage`` on this module's stack, service, answers from before, folder and model.

    ``writers=True``: clients add images through ``/add_image`` as well.
    """

    def run(
        collection: str, outage: Callable[[], None], recover: Callable[[], None], *, writers: bool = False
    ) -> None:
        adding = Writers(service.url, sorted(shapes_folder.glob("*.png")), collection) if writers else None
        run_outage(stack, service, before, import_folder, tiny_model_dir, collection, outage, recover, adding)

    return run


def test_milvus_sigkill_then_up(stack, outage_run):
    outage_run(
        "outage_milvus",
        outage=lambda: stack.kill("milvus"),
        recover=lambda: stack.sh("up"),
    )


def test_s3_sigkill_then_restart(stack, outage_run):
    milvus_pid = stack.pid("milvus")
    outage_run(
        "outage_s3",
        outage=lambda: stack.kill("s3"),
        recover=lambda: stack.sh("up"),
    )
    assert stack.pid("milvus") == milvus_pid, "Milvus should ride through an S3 restart by itself"


def test_etcd_sigkill_then_restart(stack, outage_run):
    """etcd SIGKILLed, then restarted alone (as Compose's restart policy does), under searches and adds.

    Milvus 2.3.5 loses its sessions in a long etcd outage. Then it either stops itself or,
    once etcd is back, answers every call with "service not ready[standalone=N]: Abnormal"
    (code 1, compatible code 56) until restarted; which one varies from run to run. That
    answer gave 500s on ``/add_image`` (issue 21 item 5); whatever Milvus does, the service
    answers 200 or 503, recovers, and keeps every add it acknowledged. ``stack.sh up`` then
    restarts a Milvus that does not serve (either state; see ``milvus_restart_reason``).
    """

    def etcd_back_alone_then_up() -> None:
        time.sleep(ETCD_DOWN_S - OUTAGE_S)  # long enough for Milvus to give its sessions up
        stack.start_alone("etcd")
        t0 = time.monotonic()
        while time.monotonic() - t0 < NOT_READY_WAIT_S and stack.pid("milvus") is not None:
            if stack.milvus_lost_sessions():
                print(
                    f"\nMilvus answers 'service not ready' {time.monotonic() - t0:.0f}s after etcd came back"
                )
                time.sleep(OUTAGE_S)  # the clients meet that answer for a while
                break
            time.sleep(0.5)
        else:
            print("\nMilvus " + ("still serves" if stack.pid("milvus") else "stopped itself"))
        stack.sh("up")

    outage_run(
        "outage_etcd",
        outage=lambda: stack.kill("etcd"),
        recover=etcd_back_alone_then_up,
        writers=True,
    )


def test_down_then_up_reads_everything_back_from_etcd_and_s3(stack, outage_run, tiny_model_dir):
    local = Path(stack.state["milvus_local_dir"])

    def down_and_wipe() -> None:
        stack.sh("down")
        again = stack.sh("down")  # idempotent
        assert again.stdout.count("not running") == 3, again.stdout
        assert any(local.iterdir()), "Milvus's local folder was empty; the wipe would prove nothing"
        shutil.rmtree(local)

    outage_run(
        "outage_down_up",
        outage=down_and_wipe,
        recover=lambda: stack.sh("up"),
    )
    # the earlier outages' collections came back from etcd + S3 too
    from pymilvus import MilvusClient

    client = MilvusClient(uri=stack.uri, timeout=30)
    existing = set(client.list_collections(timeout=30))
    client.close()
    for name in sorted(existing & {"outage_milvus", "outage_s3", "outage_etcd"}):
        assert stored_names(stack.uri, name, tiny_model_dir) == sorted(
            f"img_{i:03d}.png" for i in range(N_IMPORT)
        )
