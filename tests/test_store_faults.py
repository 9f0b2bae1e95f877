"""The map store under faults: crashes at every file operation, kill -9, two writers,
corrupt files, unclosed writers, stale pickles, resuming with other settings, float16.

A crash is simulated in two ways. In-process, every file operation from the k-th on
raises (the process is "dead" from there: nothing after it reaches the disk), the
writer is abandoned, and a new writer resumes. In a forked child, the k-th operation
sends the process SIGKILL (kill -9: no cleanup, no finalizer; the kernel drops the
lock). Either way, every map committed before is intact, in order, never zero, and
resuming ends in a folder byte for byte equal to the uninterrupted run's.
"""

import contextlib
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_salreg import (CorruptStoreError, MapCollection, MapFile, MapWriter,
                            StaleStoreError, StoreLockedError, write_maps)

N = 8
NAMES = [f"m{k}" for k in range(N)]
SETTINGS = {"backbone": "test", "max_side": 64}
_OPS = ("open", "write", "pwrite", "fsync", "replace", "ftruncate", "unlink")


@pytest.fixture(scope="module")
def maps():
    rng = np.random.default_rng(0)
    # strictly positive, so that a zero-padded map could not pass for a real one
    return [rng.random((h, w, 4), dtype=np.float32) + 0.5
            for h, w in [(3, 4), (5, 2), (6, 6), (2, 7), (4, 4), (1, 9), (7, 3), (5, 5)]]


def _box(k):
    return [0, 0, 1, 1] if k % 3 == 0 else None


class _Crash(BaseException):
    """A simulated crash: a BaseException, so that no ``except Exception`` handles it."""


@contextlib.contextmanager
def _faults(k=None, partial=False, kill=False):
    """Count file operations; from the k-th on, each crashes (or the k-th kills the process).

    ``partial``: the k-th, if a write, writes half its bytes first (a torn write).
    ``fsync`` is counted but not done: these crashes lose no page cache, and the tests
    run ten times faster.
    """
    count = [0]
    originals = {name: getattr(os, name) for name in _OPS}

    def wrap(name):
        original = originals[name]

        def op(*args, **kwargs):
            count[0] += 1
            if k is not None and count[0] >= k:
                if count[0] == k and partial and name in ("write", "pwrite") and len(args[1]) > 1:
                    original(args[0], memoryview(args[1])[: len(args[1]) // 2], *args[2:])
                if kill:
                    os.kill(os.getpid(), signal.SIGKILL)
                raise _Crash(f"crash at file operation {count[0]} ({name})")
            return None if name == "fsync" else original(*args, **kwargs)
        return op

    for name in _OPS:
        setattr(os, name, wrap(name))
    try:
        yield count
    finally:
        for name, original in originals.items():
            setattr(os, name, original)


def _write(folder, maps, start, stop):
    writer = MapWriter(folder, flush_every=2, settings=SETTINGS)
    try:
        for k in range(start, stop):
            writer.append(maps[k], name=NAMES[k], box=_box(k))
        writer.close()
    except _Crash:
        writer.abort()  # the process died: nothing more is written
        raise


def _cycle(folder, maps):
    """Write 5 maps (a commit every 2), close; resume, write the other 3, close."""
    _write(folder, maps, 0, 5)
    _write(folder, maps, 5, N)


def _check_committed(folder, maps):
    """Every committed map is intact and in order; return how many there are."""
    if not os.path.exists(os.path.join(folder, "manifest.json")):
        return 0
    X = MapCollection.open(folder)
    assert X._source.names == NAMES[:len(X)]
    for k in range(len(X)):
        np.testing.assert_array_equal(X[k], maps[k])
        assert (X.box(k) is None) == (_box(k) is None)
    return len(X)


def _resume(folder, maps):
    with warnings.catch_warnings(), _faults():  # _faults(): no fsync, for speed
        warnings.simplefilter("ignore")  # "dropping ... bytes after the last committed map"
        writer = MapWriter(folder, flush_every=2, settings=SETTINGS)
        done = len(writer)
        assert writer.names == NAMES[:done]
        for k in range(done, N):
            writer.append(maps[k], name=NAMES[k], box=_box(k))
        writer.close()


def _snapshot(folder):
    """The folder's files and contents, less the store id (new when the first commit was lost)."""
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    manifest.pop("uuid")
    with open(os.path.join(folder, "data.f32"), "rb") as f:
        data = f.read()
    return sorted(os.listdir(folder)), manifest, data


@pytest.fixture(scope="module")
def reference(maps, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    with _faults() as count:
        _cycle(folder, maps)
    return _snapshot(folder), count[0]


@pytest.mark.parametrize("partial", [False, True], ids=["crash", "torn-write"])
def test_crash_at_every_file_operation_then_resume(maps, reference, tmp_path, partial):
    expected, n_ops = reference
    assert n_ops > 30  # the cycle did go through its commits
    seen = set()
    for k in range(1, n_ops + 1):
        folder = tmp_path / f"k{k}"
        with pytest.raises(_Crash), _faults(k, partial=partial):
            _cycle(folder, maps)
        seen.add(_check_committed(folder, maps))
        _resume(folder, maps)
        assert _snapshot(folder) == expected, f"crash at file operation {k}"
    assert seen == {0, 2, 4, 5, 7, 8}  # every commit was the state some crash left


def test_kill_9_at_every_file_operation_then_resume(maps, reference, tmp_path):
    expected, n_ops = reference
    for k in range(1, n_ops + 1, 2):
        folder = tmp_path / f"k{k}"
        pid = os.fork()
        if pid == 0:  # the child: write until the k-th file operation kills it
            try:
                with _faults(k, partial=True, kill=True):
                    _cycle(folder, maps)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        _check_committed(folder, maps)
        _resume(folder, maps)
        assert _snapshot(folder) == expected, f"kill -9 at file operation {k}"


def test_kill_9_from_outside_while_writing(maps, tmp_path):
    """A child appends for ever; the parent kills it at an arbitrary moment, three times."""
    folder = tmp_path / "m"
    big = [np.full((16, 16, 4), k + 1.0, np.float32) for k in range(4)]
    before = 0
    for attempt in range(3):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_end)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    writer = MapWriter(folder, flush_every=3)
                while len(writer) < 5000:  # killed long before, unless the machine stalls
                    writer.append(big[len(writer) % 4], name=f"n{len(writer)}")
                    if len(writer) % 10 == 0:
                        os.write(write_end, b".")
            finally:
                os._exit(1)
        os.close(write_end)
        os.read(read_end, 1)  # it is writing
        time.sleep(0.01 * attempt)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        X = MapCollection.open(folder)
        assert len(X) >= before and X._source.names == [f"n{k}" for k in range(len(X))]
        before = len(X)
        for k in range(len(X)):
            np.testing.assert_array_equal(X[k], big[k % 4])
    MapFile(folder).verify()


# -- one writer at a time; readers never wait ------------------------------------------------
def test_second_writer_in_a_thread_is_refused_readers_are_not(maps, tmp_path):
    folder = tmp_path / "m"
    with MapWriter(folder, flush_every=1) as writer:
        writer.append(maps[0], name="a")
        errors = []

        def second():
            try:
                MapWriter(folder)
            except StoreLockedError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
        assert len(errors) == 1 and "single writer" in errors[0] and str(folder) in errors[0]
        np.testing.assert_array_equal(MapCollection.open(folder)[0], maps[0])  # a reader
        writer.append(maps[1], name="b")
        assert len(MapCollection.open(folder)) == 2
    with MapWriter(folder) as again:  # free once the first is closed
        assert again.names == ["a", "b"]


def test_second_writer_in_a_process_is_refused(maps, tmp_path):
    folder = tmp_path / "m"
    with MapWriter(folder, flush_every=1) as writer:
        writer.append(maps[0], name="a")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                MapWriter(folder)
            except StoreLockedError as exc:
                code = 3 if f"process {os.getppid()}" in str(exc) else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 3  # refused, naming the process that writes
        np.testing.assert_array_equal(MapCollection.open(folder)[0], maps[0])


# -- corrupt folders: an error that names the file ----------------------------------------
def _edit_manifest(folder, **changes):
    path = folder / "manifest.json"
    record = json.loads(path.read_text())
    record.update(changes)
    path.write_text(json.dumps(record))


CORRUPTIONS = {
    "manifest zero bytes": ("manifest.json", lambda f: (f / "manifest.json").write_bytes(b"")),
    "manifest garbage": ("manifest.json",
                         lambda f: (f / "manifest.json").write_bytes(os.urandom(64))),
    "manifest truncated": ("manifest.json", lambda f: (f / "manifest.json").write_bytes(
        (f / "manifest.json").read_bytes()[:100])),
    "manifest a list": ("manifest.json", lambda f: (f / "manifest.json").write_text("[1, 2]")),
    "names a dict": ("manifest.json", lambda f: _edit_manifest(f, names={"a": 0})),
    "names too short": ("manifest.json", lambda f: _edit_manifest(f, names=["a"])),
    "names of ints": ("manifest.json", lambda f: _edit_manifest(f, names=list(range(4)))),
    "shapes of floats": ("manifest.json", lambda f: _edit_manifest(
        f, shapes=[[3.0, 4, 4], [5, 2, 4], [6, 6, 4], [2, 7, 4]])),
    "n_maps wrong": ("manifest.json", lambda f: _edit_manifest(f, n_maps=5)),
    "data_bytes wrong": ("manifest.json", lambda f: _edit_manifest(f, data_bytes=12)),
    "boxes too short": ("manifest.json", lambda f: _edit_manifest(f, boxes=[[0, 0, 1, 1]])),
    "crc out of range": ("manifest.json", lambda f: _edit_manifest(f, crc32=[-1, 0, 0, 0])),
    "dtype unknown": ("manifest.json", lambda f: _edit_manifest(f, dtype="int8")),
    "newer version": ("manifest.json", lambda f: _edit_manifest(f, version=99)),
    "record longer than data": ("data.f32", lambda f: os.truncate(f / "data.f32", 100)),
    "data zero bytes": ("data.f32", lambda f: os.truncate(f / "data.f32", 0)),
    "data missing": ("data.f32", lambda f: os.unlink(f / "data.f32")),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_folder_names_the_file(maps, tmp_path, case):
    filename, corrupt = CORRUPTIONS[case]
    folder = tmp_path / "m"
    write_maps(folder, maps[:4], names=["a", "b", "c", "d"])
    corrupt(folder)
    with pytest.raises(CorruptStoreError, match=re.escape(filename)):
        list(MapCollection.open(folder))  # opening, or at the latest the first read
    if filename == "data.f32":  # a writer refuses to resume rather than pad with zeros
        with pytest.raises(CorruptStoreError, match="data.f32.*(missing|nothing is padded)"):
            MapWriter(folder)


def test_checksums_find_changed_bytes(maps, tmp_path):
    folder = tmp_path / "m"
    X = MapCollection(maps[:3]).save(folder)
    X._source.verify()
    with open(folder / "data.f32", "r+b") as f:  # bit rot inside the second map
        f.seek(4 * maps[0].size + 5)
        f.write(b"\x7f")
    with pytest.raises(CorruptStoreError, match="image 1: .*data.f32.*checksum"):
        MapFile(folder).verify()


def _legacy_folder(folder, maps, names):
    """A folder in the layout written before manifest.json (index.npy + names.json)."""
    os.makedirs(folder)
    offsets = np.cumsum([0] + [A.size for A in maps])[:-1]
    np.save(folder / "index.npy", np.array([(o, *A.shape) for o, A in zip(offsets, maps)]))
    (folder / "names.json").write_text(json.dumps(names))
    (folder / "data.f32").write_bytes(b"".join(A.tobytes() for A in maps))


LEGACY_CORRUPTIONS = {
    "index zero bytes": ("index.npy", lambda f: (f / "index.npy").write_bytes(b"")),
    "index garbage": ("index.npy", lambda f: (f / "index.npy").write_bytes(b"\x93NUMPY garbage")),
    "index not (n, 4)": ("index.npy", lambda f: np.save(f / "index.npy", np.zeros((3, 2)))),
    "names malformed": ("names.json", lambda f: (f / "names.json").write_text('["a", ')),
    "names a dict": ("names.json", lambda f: (f / "names.json").write_text('{"a": 1}')),
    "names too short": ("names.json", lambda f: (f / "names.json").write_text('["a"]')),
    "boxes too short": ("boxes.npy", lambda f: np.save(f / "boxes.npy", np.zeros((1, 4), int))),
}


@pytest.mark.parametrize("case", sorted(LEGACY_CORRUPTIONS))
def test_corrupt_old_layout_names_the_file(maps, tmp_path, case):
    filename, corrupt = LEGACY_CORRUPTIONS[case]
    _legacy_folder(tmp_path / "m", maps[:3], ["a", "b", "c"])
    corrupt(tmp_path / "m")
    with pytest.raises(CorruptStoreError, match=re.escape(filename)):
        MapCollection.open(tmp_path / "m")


def test_old_layout_is_read_and_converted_by_a_writer(maps, tmp_path):
    folder = tmp_path / "m"
    _legacy_folder(folder, maps[:3], ["a", "b", "c"])
    X = MapCollection.open(folder)
    assert X._source.names == ["a", "b", "c"]
    np.testing.assert_array_equal(X[2], maps[2])
    unread = MapCollection.open(folder)
    # the state a crash between names.json and index.npy left: one name too many
    (folder / "names.json").write_text(json.dumps(["a", "b", "c", "d"]))
    with pytest.raises(CorruptStoreError, match="names.json: 4 names for the 3 maps"):
        MapCollection.open(folder)
    with pytest.warns(UserWarning, match="converted"):
        writer = MapWriter(folder)
    assert writer.names == ["a", "b", "c"]
    writer.append(maps[3], name="d")
    writer.close()
    assert sorted(os.listdir(folder)) == ["data.f32", "lock", "manifest.json"]
    Y = MapCollection.open(folder)
    assert Y._source.names == ["a", "b", "c", "d"]
    for A, B in zip(maps[:4], Y):
        np.testing.assert_array_equal(A, B)
    np.testing.assert_array_equal(X[0], maps[0])  # reading already: the same data file
    with pytest.raises(StaleStoreError):
        unread[0]  # opened before the conversion, never read: its files changed


# -- a writer never closed -------------------------------------------------------------------
def test_unclosed_writer_commits_when_collected(maps, tmp_path):
    writer = MapWriter(tmp_path / "m", flush_every=100)
    for k in range(3):
        writer.append(maps[k], name=NAMES[k])
    with pytest.warns(ResourceWarning, match="was not closed"):
        del writer
    assert len(MapCollection.open(tmp_path / "m")) == 3


def test_a_forked_copy_of_an_unclosed_writer_does_not_commit(maps, tmp_path):
    writer = MapWriter(tmp_path / "m", flush_every=100)
    writer.append(maps[0], name="a")
    pid = os.fork()
    if pid == 0:  # e.g. a multiprocessing worker, which inherits the parent's objects
        try:
            del writer
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert len(MapCollection.open(tmp_path / "m")) == 0  # only the parent commits
    writer.close()
    assert len(MapCollection.open(tmp_path / "m")) == 1


_UNCLOSED = """
import sys
import numpy as np
from sklearn_salreg import MapWriter
writer = MapWriter(sys.argv[1], flush_every=100)
for k in range(5):
    writer.append(np.full((2, 3, 4), k + 1.0, np.float32), name=f"m{k}")
# the script ends without close(): the interpreter's exit commits
"""


def _python(*args):
    """Start a child interpreter that imports this checkout's package."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([root, os.path.join(root, "tests")])}
    return subprocess.Popen([sys.executable, "-c", *args], cwd=root, env=env)


@pytest.fixture(scope="module", autouse=True)
def children(tmp_path_factory):
    """The two child interpreters of this module, started first (their imports take seconds:
    they overlap with the other tests)."""
    folder = tmp_path_factory.mktemp("children")
    started = {"unclosed": (_python(_UNCLOSED, str(folder / "unclosed")), folder / "unclosed"),
               "extract": (_python(_EXTRACT, str(folder / "extract"), "5"), folder / "extract")}
    yield started
    for child, _ in started.values():
        if child.poll() is None:
            child.kill()
            child.wait()


def test_unclosed_writer_commits_at_interpreter_exit(children):
    child, folder = children["unclosed"]
    assert child.wait(timeout=300) == 0
    X = MapCollection.open(folder)
    assert X._source.names == NAMES[:5]
    assert [float(A[0, 0, 0]) for A in X] == [1.0, 2.0, 3.0, 4.0, 5.0]


# -- pickled collections check their folder -------------------------------------------------
def test_pickled_collection_refuses_a_replaced_folder(maps, tmp_path):
    folder = tmp_path / "m"
    X = MapCollection(maps[:3]).save(folder)
    kept = pickle.dumps(X)
    fresh = MapCollection.open(folder)  # opened, not read yet
    # appending keeps what a pickle describes valid
    with MapWriter(folder) as writer:
        writer.append(maps[3])
    np.testing.assert_array_equal(pickle.loads(kept)[2], maps[2])
    # replaced by other maps of the same shapes: refused, not read
    for name in os.listdir(folder):
        os.unlink(folder / name)
    write_maps(folder, [A * 2 for A in maps[:4]])
    with pytest.raises(StaleStoreError, match="changed since this collection was opened or pi"):
        pickle.loads(kept)[0]
    with pytest.raises(StaleStoreError):
        fresh[0]
    np.testing.assert_array_equal(MapCollection.open(folder)[0], maps[0] * 2)


# -- what the maps are: resuming with other settings ---------------------------------------
def test_resuming_with_other_settings_or_dtype_names_both(maps, tmp_path):
    folder = tmp_path / "m"
    with MapWriter(folder, settings={"max_side": 512, "layer": "x"}) as writer:
        writer.append(maps[0], name="a")
    assert MapFile(folder).settings == {"max_side": 512, "layer": "x"}
    with pytest.raises(ValueError, match="max_side=512; resuming it with max_side=1024"):
        MapWriter(folder, settings={"max_side": 1024, "layer": "x"})
    with pytest.raises(ValueError, match="dtype='float32'; resuming it with dtype='float16'"):
        MapWriter(folder, dtype="float16")
    with pytest.raises(ValueError, match="image 1: the map has 5 channels.* 4 channels"):
        with MapWriter(folder) as writer:
            writer.append(np.ones((2, 2, 5), np.float32))
    assert len(MapCollection.open(folder)) == 1


def _tiny_backbone():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 4, stride=4), nn.ReLU())


def _images(n):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (48 + 8 * (k % 2), 64, 3), dtype=np.uint8) for k in range(n)]


def _extractor(output, **params):
    from sklearn_salreg.extraction import ActivationExtractor

    params = {"max_side": 64, **params}
    return ActivationExtractor(_tiny_backbone(), layer="1", output=output, **params).fit()


def test_extraction_resume_refuses_other_settings_and_unnamed_maps(tmp_path):
    images, names = _images(3), ["a", "b", "c"]
    _extractor(tmp_path / "m").transform(images[:2], names=names[:2])
    with pytest.raises(ValueError, match="max_side=64; resuming it with max_side=48"):
        _extractor(tmp_path / "m", max_side=48).transform(images, names=names)
    other = _extractor(tmp_path / "m")
    other.model_[0].weight.data += 1  # other weights, same architecture
    other.weights_digest_ = "0123456789abcdef"
    with pytest.raises(ValueError, match="weights='[0-9a-f]{16}'; resuming it with "
                                         "weights='0123456789abcdef'"):
        other.transform(images, names=names)
    assert len(_extractor(tmp_path / "m").transform(images, names=names)) == 3
    # a folder whose maps have no names cannot be resumed: which images are done?
    with MapWriter(tmp_path / "unnamed") as writer:
        writer.append(np.ones((2, 2, 6), np.float32))
    with pytest.raises(ValueError, match="maps without a name"), \
            pytest.warns(UserWarning, match="does not record what made them"):
        _extractor(tmp_path / "unnamed").transform(images, names=names)
    with MapWriter(tmp_path / "twice") as writer:
        writer.append(np.ones((2, 2, 6), np.float32), name="a")
        writer.append(np.ones((2, 2, 6), np.float32), name="a")
    with pytest.raises(ValueError, match="the name 'a' twice"), pytest.warns(UserWarning):
        _extractor(tmp_path / "twice").transform(images, names=names)
    assert len(MapCollection.open(tmp_path / "twice")) == 2  # refused before writing


def test_extraction_crash_at_every_file_operation_then_resume(tmp_path):
    images, names = _images(5), [f"i{k}" for k in range(5)]
    extractor = _extractor(tmp_path / "warm-up", batch_size=2)
    extractor.transform(images, names=names)  # torch opens files on its first run only
    extractor.set_params(output=tmp_path / "reference")
    with _faults() as count:
        expected = extractor.transform(images, names=names)
    reference = _snapshot(tmp_path / "reference")
    for k in range(1, count[0] + 1):
        extractor.set_params(output=tmp_path / f"k{k}")
        with pytest.raises(_Crash), _faults(k, partial=True):
            extractor.transform(images, names=names)
        with warnings.catch_warnings(), _faults():
            warnings.simplefilter("ignore")
            again = extractor.transform(images, names=names)
        for a, b in zip(again, expected, strict=True):
            np.testing.assert_array_equal(a, b)
        assert _snapshot(tmp_path / f"k{k}") == reference, f"crash at file operation {k}"


_EXTRACT = """
import os, signal, sys
from test_store_faults import _extractor, _images
import sklearn_salreg.collection._disk as disk
disk.MapWriter.__init__.__defaults__ = (2, "float32", None)  # commit every 2 maps
appended = []
original = disk.MapWriter.append
def append(self, *args, **kwargs):
    original(self, *args, **kwargs)
    appended.append(1)
    if len(appended) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of an extraction
disk.MapWriter.append = append
_extractor(sys.argv[1], batch_size=2).transform(_images(6), names=[f"i{k}" for k in range(6)])
"""


def test_kill_9_of_an_extraction_then_resume(children, tmp_path):
    images, names = _images(6), [f"i{k}" for k in range(6)]
    child, folder = children["extract"]
    assert child.wait(timeout=300) == -signal.SIGKILL
    assert MapFile(folder).names == names[:4]  # the commits after maps 2 and 4
    with pytest.warns(UserWarning, match="dropping .* bytes"):  # map 5, never committed
        resumed = _extractor(folder, batch_size=2).transform(images, names=names)
    expected = _extractor(tmp_path / "reference", batch_size=2).transform(images, names=names)
    for a, b in zip(resumed, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert _snapshot(folder) == _snapshot(tmp_path / "reference")


# -- float16 storage -------------------------------------------------------------------------
def test_float16_round_trip_takes_half_the_disk(tmp_path):
    from sklearn_salreg.datasets import make_blob_maps

    maps = make_blob_maps(4, (6, 8), 32, random_state=0)
    half = MapCollection(maps, boxes=[None, [0, 0, 2, 2], None, None]).save(
        tmp_path / "f16", dtype="float16")
    full = MapCollection(maps).save(tmp_path / "f32")
    assert os.path.getsize(tmp_path / "f16" / "data.f16") * 2 == os.path.getsize(
        tmp_path / "f32" / "data.f32")
    assert half._source.dtype == np.float16 and half.box(1).tolist() == [0, 0, 2, 2]
    for A, B in zip(maps, half):
        assert B.dtype == np.float32 and not B.flags.writeable
        np.testing.assert_array_equal(B, A.astype(np.float16).astype(np.float32))
    half._source.verify()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(half))[3], half[3])
    del full


@pytest.mark.parametrize("value, message", [(7e4, "values up to 7e\\+04"),
                                            (np.inf, "values that are not finite"),
                                            (np.nan, "values that are not finite")])
def test_float16_refuses_values_out_of_its_range(tmp_path, value, message):
    with MapWriter(tmp_path / "m", dtype="float16") as writer:
        writer.append(np.ones((2, 3, 4), np.float32), name="a")
        A = np.ones((2, 3, 4), np.float32)
        A[1, 2, 3] = value
        with pytest.raises(ValueError, match=f"image 1: the map holds {message}.*65504"):
            writer.append(A, name="b")
        assert writer.names == ["a"]
    X = MapCollection.open(tmp_path / "m")
    assert len(X) == 1 and np.isfinite(X[0]).all()


def test_float16_changes_descriptors_negligibly(tmp_path):
    from sklearn_salreg.pipelines import make_fs_egm, make_mac
    from sklearn_salreg.datasets import make_blob_maps

    maps = make_blob_maps(12, (24, 32), 512, random_state=0)
    X32 = MapCollection(maps)
    X16 = X32.save(tmp_path / "f16", dtype="float16")
    for make in (make_mac, make_fs_egm):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            D32 = make().fit_transform(X32)
            D16 = make().fit_transform(X16)
        cosine = np.sum(D32 * D16, axis=1) / (np.linalg.norm(D32, axis=1)
                                               * np.linalg.norm(D16, axis=1))
        assert cosine.min() >= 0.9999, (make.__name__, cosine.min())  # measured: 0.9999999


def test_extraction_in_float16_is_the_same_in_memory_and_on_disk(tmp_path):
    images, names = _images(3), ["a", "b", "c"]
    on_disk = _extractor(tmp_path / "m", dtype="float16").transform(images, names=names)
    in_memory = _extractor(None, dtype="float16").transform(images)
    full = _extractor(None).transform(images)
    assert os.path.exists(tmp_path / "m" / "data.f16")
    for a, b, c in zip(on_disk, in_memory, full, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, c.astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="dtype='float16'; resuming it with dtype='float32'"):
        _extractor(tmp_path / "m").transform(images, names=names)


def test_extraction_writes_the_folder_in_the_order_of_x(tmp_path):
    """Images of alternating shapes are batched by shape, hence finish out of order; the
    folder still holds them in the order given, and a resumed run equals one run."""
    images, names = _images(7), [f"i{k}" for k in range(7)]
    maps = _extractor(tmp_path / "one", batch_size=3).transform(images, names=names)
    assert MapFile(tmp_path / "one").names == names
    _extractor(tmp_path / "two", batch_size=3).transform(images[:4], names=names[:4])
    again = _extractor(tmp_path / "two", batch_size=3).transform(images, names=names)
    assert _snapshot(tmp_path / "two") == _snapshot(tmp_path / "one")
    for a, b in zip(again, maps, strict=True):
        np.testing.assert_array_equal(a, b)
