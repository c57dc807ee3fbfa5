"""The stored index under crashes and failing disks: a writer SIGKILLed at random points of
ingest and delete, a full disk, an unwritable folder, damaged files. After each, the index must
load and hold exactly the state before or after the interrupted change, never a mix."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rag_retrieve.documents import Chunk
from rag_retrieve.index import HybridIndex, IndexCorruptError, IndexWriteError

DIM = 384
BATCH = 1500  # chunks per source: big enough that a save takes a while, so kills land inside saves


def chunks(source: str, n: int = BATCH) -> list[Chunk]:
    return [
        Chunk(
            id=f"{source}#{i}",
            doc_id=source,
            text=f"passage {i} of {source} " + "word " * 30,
            source=source,
            title="",
            position=i,
            start=0,
            end=10,
        )
        for i in range(n)
    ]


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def state(index: HybridIndex | None) -> dict[str, int]:
    """What a user would see: chunks per source. A half-applied change shows up here."""
    return dict(sorted(Counter(c.source for c in index.chunks).items())) if index else {}


def consistent(index: HybridIndex) -> bool:
    return len(index.chunks) == len(index.vectors) and (
        index.bm25.model is None or index.bm25.model.scores["num_docs"] == len(index.chunks)
    )


# Adds a source, then deletes the oldest, forever; says what it is about to save, then that it saved.
WRITER = textwrap.dedent(
    """
    import json, sys
    from rag_retrieve.index import HybridIndex
    from tests.test_crash_safety import chunks, state, vectors
    folder = {folder!r}
    index = HybridIndex.load(folder)
    step = 0
    while True:
        step += 1
        sources = sorted(state(index))
        if step % 2 or len(sources) < 2:
            new = chunks(f"s{{step:04d}}.txt")
            nxt = index.added(new, vectors(len(new), step))
        else:
            nxt = index.without_source(sources[0])
        print("PENDING", json.dumps(state(nxt)), flush=True)
        nxt.save(folder)
        index = nxt
        print("SAVED", json.dumps(state(index)), flush=True)
    """
)


def test_sigkill_during_ingest_and_delete_leaves_the_state_before_or_after(tmp_path):
    folder = tmp_path / "index"
    first = chunks("s0000.txt")
    HybridIndex.empty(model="m", dimension=DIM).added(first, vectors(len(first))).save(folder)
    rng = random.Random(7)
    saved = state(HybridIndex.load(folder))
    outcomes = Counter()
    for attempt in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(folder=str(folder))],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(1.5, 5.0))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        lines = [ln.split(" ", 1) for ln in out.splitlines() if ln]
        done = [json.loads(v) for k, v in lines if k == "SAVED"]
        saved = done[-1] if done else saved
        pending = json.loads(lines[-1][1]) if lines and lines[-1][0] == "PENDING" else None
        index = HybridIndex.load(folder)
        assert index is not None and consistent(index)
        got = state(index)
        assert got in (saved, pending), f"attempt {attempt}: a mix of states: {got}"
        outcomes[
            "killed mid-save, old state kept"
            if got == saved and pending
            else "killed mid-save, new state complete"
            if got == pending
            else "killed between saves"
        ] += 1
        saved = got
    print(dict(outcomes))
    assert sum(outcomes.values()) == 12 and outcomes["killed between saves"] < 12, (
        f"no kill landed inside a save: {outcomes}"
    )
    assert len(saved) >= 1


@pytest.fixture
def stored(tmp_path):
    """An index folder holding two saves: the generation before, and the current one."""
    folder = tmp_path / "index"
    a = chunks("a.txt", 50)
    index = HybridIndex.empty(model="m", dimension=DIM).added(a, vectors(50, 1))
    index.save(folder)
    b = chunks("b.txt", 50)
    index = index.added(b, vectors(50, 2))
    index.save(folder)
    return folder


def _small_filesystem(path: Path, size: str = "256k") -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )


FULL_DISK_WRITER = textwrap.dedent(
    """
    import resource, signal, sys
    if {limit}:  # no tmpfs to fill: a file-size limit fails the same writes the same way
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
    from rag_retrieve.index import HybridIndex, IndexWriteError
    from tests.test_crash_safety import chunks, vectors
    index = HybridIndex.load({folder!r})
    big = chunks("big.txt", 4000)
    try:
        index.added(big, vectors(len(big))).save({folder!r})
    except IndexWriteError as exc:
        print(exc)
        sys.exit(3)
    """
)


def test_a_full_disk_gives_a_clear_error_and_keeps_the_index(tmp_path):
    disk = tmp_path / "disk"
    mounted = _small_filesystem(disk)
    try:
        folder = disk / "index"
        small = chunks("a.txt", 20)
        HybridIndex.empty(model="m", dimension=DIM).added(small, vectors(20)).save(folder)
        before = state(HybridIndex.load(folder))
        script = FULL_DISK_WRITER.format(folder=str(folder), limit=0 if mounted else 200_000)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert out.returncode == 3, out.stderr
        assert "Could not save the index" in out.stdout and "Nothing was changed" in out.stdout
        assert ("No space left on device" in out.stdout) if mounted else ("File too large" in out.stdout)
        assert "Free some disk space" in out.stdout
        assert state(HybridIndex.load(folder)) == before
        assert not list(folder.glob(".tmp-*")), "a failed save must not leave its partial files"
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


def test_an_unwritable_folder_gives_a_clear_error_and_keeps_the_index(tmp_path):
    disk = tmp_path / "disk"
    # Root ignores file permissions, so as root the folder sits on a filesystem remounted read-only.
    mounted = _small_filesystem(disk, "8m")
    folder = disk / "index"
    try:
        HybridIndex.empty(model="m", dimension=DIM).added(chunks("a.txt", 20), vectors(20)).save(folder)
        before = state(HybridIndex.load(folder))
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        else:
            os.chmod(folder, 0o555)
        with pytest.raises(IndexWriteError) as err:
            HybridIndex.load(folder).added(chunks("c.txt", 10), vectors(10)).save(folder)
        message = str(err.value)
        assert message.startswith(f"Could not save the index in {folder}: ") and "Nothing was changed" in message
        assert ("Read-only file system" if mounted else "Permission denied") in message and "writable" in message
        assert state(HybridIndex.load(folder)) == before
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)
        elif folder.exists():
            os.chmod(folder, 0o755)


def test_a_damaged_file_falls_back_to_the_previous_generation(stored, caplog):
    gens = sorted(stored.glob("gen-*"))
    assert len(gens) == 2  # every save keeps the one before
    vec = gens[-1] / "vectors.npy"
    raw = bytearray(vec.read_bytes())
    raw[-10] ^= 0xFF  # one flipped byte: still a valid .npy, silently wrong without checksums
    vec.write_bytes(bytes(raw))
    index = HybridIndex.load(stored)
    assert state(index) == {"a.txt": 50}  # the generation before the damaged one
    assert "damaged" in caplog.text and "add those files again" in caplog.text


def test_every_generation_damaged_gives_the_fix(stored):
    for gen in stored.glob("gen-*"):
        (gen / "chunks.jsonl").write_text("{not json")
    with pytest.raises(IndexCorruptError, match=r"Every index generation .* is damaged .* Delete .* rebuild"):
        HybridIndex.load(stored)


def test_a_full_disk_through_the_space_keeps_serving_the_old_index(start_space, tmp_path):
    """The retrieve Space on a 256 kB disk: an upload too big to save gets the message, and search goes on."""
    from gradio_client import Client, handle_file

    disk = tmp_path / "disk"
    if not _small_filesystem(disk, "256k"):
        pytest.skip("needs root to mount a small tmpfs; the writer-level test above covers the same save path")
    try:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "tides.md").write_text("# Tides\n\nTides are caused by the gravitational pull of the moon.")
        server = start_space(
            "retrieve", RETRIEVE_INDEX_DIR=str(disk / "index"), RETRIEVE_CORPUS=str(corpus), RETRIEVE_WRITE_TOKEN="t"
        )
        client = Client(server.url, verbose=False)
        before = client.predict(api_name="/stats")
        big = tmp_path / "big.txt"
        big.write_text(
            "\n\n".join(
                f"Paragraph {i} talks about topic number {i} at some length, with words. " * 3 for i in range(1500)
            )
        )  # ~400 kB
        with pytest.raises(Exception, match="Could not save the index .* No space left on device. Nothing was changed"):
            client.predict([handle_file(str(big))], "t", api_name="/add_documents")
        assert client.predict(api_name="/stats")["chunks"] == before["chunks"]
        assert client.predict("what causes tides?", 1, api_name="/retrieve")["data"][0][2] == "tides.md"
        server.stop()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


# Writes 3,000 chunks into embedded Qdrant in batches of 100, saying how many are done.
QDRANT_WRITER = textwrap.dedent(
    """
    import sys
    from rag_retrieve.qdrant_index import QdrantIndex
    from tests.test_crash_safety import chunks, vectors
    index = QdrantIndex(model="m", dimension=384, path={folder!r}, batch_size=100)
    new = chunks("big.txt", 3000)
    vecs = vectors(3000, 3)
    for i in range(0, 3000, 100):
        index.add(new[i : i + 100], vecs[i : i + 100])
        print("DONE", i + 100, flush=True)
    """
)


def test_sigkill_during_a_qdrant_ingest_leaves_it_usable_and_a_rerun_completes_it(tmp_path):
    pytest.importorskip("qdrant_client", reason="needs requirements-scale.txt (make test installs it)")
    from rag_retrieve.qdrant_index import QdrantIndex

    folder = tmp_path / "qdrant"
    child = subprocess.Popen(
        [sys.executable, "-c", QDRANT_WRITER.format(folder=str(folder))], stdout=subprocess.PIPE, text=True
    )
    done = 0
    for line in child.stdout:  # kill it once it is well under way, mid-write
        done = int(line.split()[1])
        if done >= 800:
            break
    child.send_signal(signal.SIGKILL)
    child.communicate()
    index = QdrantIndex(model="m", dimension=DIM, path=folder)
    assert done <= len(index) < 3000  # every batch that returned is there; the rest is not
    hits = index.search(vectors(1, 3)[0], "passage 5 of big.txt", k=3, mode="hybrid", clauses=[])
    assert hits and hits[0].chunk.source == "big.txt"
    # The same ingest again writes only what is missing, and nothing twice.
    new, vecs = chunks("big.txt", 3000), vectors(3000, 3)
    fresh = index.new_chunks(new)
    assert len(fresh) == 3000 - len(index)
    keep = {c.id for c in fresh}
    index.add(fresh, vecs[[i for i, c in enumerate(new) if c.id in keep]])
    assert len(index) == 3000 and index.new_chunks(new) == []
    index.close()
