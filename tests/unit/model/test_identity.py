"""A checkpoint's content identity (clipvec.model.identity): same weights, same id, from any folder."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from clipvec.model.facts import facts_at_hand
from clipvec.model.identity import content_id, weight_files


@pytest.fixture
def checkpoint(tiny_model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "first-place" / "clip"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_a_moved_or_copied_checkpoint_keeps_its_id(checkpoint, tmp_path):
    first = content_id(checkpoint)
    assert first is not None and first.startswith("sha256:") and len(first) == 7 + 64
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(checkpoint, moved)
    shutil.rmtree(checkpoint)
    assert content_id(moved) == first


def test_saving_the_config_again_keeps_the_id(checkpoint):
    first = content_id(checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["transformers_version"] = "9.9.9"
    config["_name_or_path"] = "/somewhere/else"
    (checkpoint / "config.json").write_text(json.dumps(config, indent=7))  # other layout, same content
    assert content_id(checkpoint) == first


def test_other_weights_or_config_change_the_id(checkpoint):
    first = content_id(checkpoint)
    weights = weight_files(checkpoint)[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one byte of one tensor
    weights.write_bytes(bytes(data))
    second = content_id(checkpoint)
    assert second != first
    config = json.loads((checkpoint / "config.json").read_text())
    config["projection_dim"] = config.get("projection_dim", 512) + 1
    (checkpoint / "config.json").write_text(json.dumps(config))
    assert content_id(checkpoint) not in (first, second)


def test_only_the_weights_transformers_loads_count(checkpoint):
    first = content_id(checkpoint)
    assert [p.name for p in weight_files(checkpoint)] == ["model.safetensors"]
    (checkpoint / "pytorch_model.bin").write_bytes(b"another format beside it, never loaded")
    (checkpoint / "tokenizer.json").write_text("{}")
    assert content_id(checkpoint) == first


def test_shards_are_read_through_their_index(checkpoint):
    weights = checkpoint / "model.safetensors"
    (checkpoint / "model-00002.safetensors").write_bytes(weights.read_bytes()[:100])
    weights.rename(checkpoint / "model-00001.safetensors")
    index = {"weight_map": {"a": "model-00002.safetensors", "b": "model-00001.safetensors"}}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    assert [p.name for p in weight_files(checkpoint)] == [
        "model-00001.safetensors",
        "model-00002.safetensors",
    ]
    assert content_id(checkpoint) is not None


def test_the_hub_cache_blob_name_is_the_hash(checkpoint, tmp_path):
    """A hub snapshot's weights are symlinks to blobs named by their sha256: not read again."""
    repo = tmp_path / "hub" / "models--someone--clip"
    snapshot = repo / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    for item in checkpoint.iterdir():
        data = item.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / item.name).symlink_to(Path("../../blobs") / blob.name)
    assert content_id(snapshot) == content_id(checkpoint)
    # The name is trusted, not re-read: a blob whose bytes changed keeps its id.
    weights = repo / "blobs" / hashlib.sha256((checkpoint / "model.safetensors").read_bytes()).hexdigest()
    weights.write_bytes(b"changed")
    assert content_id(snapshot) == content_id(checkpoint)


def test_no_weights_or_no_config_no_id(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    assert content_id(checkpoint) is None
    assert content_id(checkpoint.parent / "missing") is None


def test_an_identity_recognises_a_legacy_record_of_the_same_checkpoint(checkpoint, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    identity = facts_at_hand(str(copy)).identity()
    assert identity.content_id == content_id(checkpoint)
    assert identity.recognises(str(checkpoint.resolve()))  # the old record: the folder it came from
    assert not identity.recognises(str(tmp_path / "gone"))
    assert not identity.recognises("someone/never-downloaded")
    options = identity.store_options()
    assert (options["model_name"], options["dim"], options["model_id"]) == (
        identity.name,
        identity.dim,
        identity.content_id,
    )


# --------------------------------------------------------------------------- remembered hashes
@pytest.fixture
def memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hash memo's folder (beside the export cache), and a process that has hashed nothing yet."""
    from clipvec.model import identity

    monkeypatch.setenv("CLIPVEC_EXPORT_CACHE", str(tmp_path / "exports"))
    monkeypatch.setattr(identity, "_hashes", {})
    return tmp_path / "exports" / "hashes"


def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The weight files this process reads from now on (the memo's answers are not reads)."""
    from clipvec.model import identity

    seen: list[Path] = []
    read = identity._read_and_remember

    def counted(path, *rest):
        seen.append(path)
        return read(path, *rest)

    monkeypatch.setattr(identity, "_read_and_remember", counted)
    return seen


def test_a_later_process_takes_the_hash_from_the_memo_until_the_file_changes(checkpoint, memo, monkeypatch):
    from clipvec.model import identity

    first = content_id(checkpoint)
    assert len(list(memo.glob("*.json"))) == 1
    monkeypatch.setattr(identity, "_hashes", {})  # as a new process
    seen = reads(monkeypatch)
    assert content_id(checkpoint) == first and seen == []
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # the same size, the same inode: only the times tell
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(identity, "_hashes", {})
    assert content_id(checkpoint) != first and seen == [weights.resolve()]


def test_threads_asking_at_once_read_the_file_once(checkpoint, memo, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    seen = reads(monkeypatch)
    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(lambda _: content_id(checkpoint), range(8)))
    assert len(ids) == 1 and len(seen) == 1


def test_a_damaged_or_foreign_memo_is_not_believed(checkpoint, memo, monkeypatch):
    from clipvec.model import identity

    first = content_id(checkpoint)
    (entry,) = memo.glob("*.json")
    kept = json.loads(entry.read_text())
    for bad in ("{", json.dumps({**kept, "sha256": "0" * 64, "signature": [str(checkpoint), 1]}), "[]"):
        entry.write_text(bad)
        monkeypatch.setattr(identity, "_hashes", {})
        seen = reads(monkeypatch)
        assert content_id(checkpoint) == first and len(seen) == 1


def test_a_cache_that_cannot_be_written_only_costs_a_read(checkpoint, tmp_path, monkeypatch):
    from clipvec.model import identity

    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CLIPVEC_EXPORT_CACHE", str(blocker / "exports"))
    monkeypatch.setattr(identity, "_hashes", {})
    assert content_id(checkpoint) is not None
