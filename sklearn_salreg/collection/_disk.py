"""A folder on disk that holds activation maps of varying size, read one at a time.

Layout of a map folder::

    data.f32       all maps, C order (h, w, c), one after the other (data.f16 for float16)
    manifest.json  the commit record: names, shapes, boxes, checksums, dtype, the settings
                   that made the maps (see ``_manifest.py``); written last, atomically
    lock           held (``fcntl.flock``) by the one writer; readers never take it

A writer appends maps to the data file and, every ``flush_every`` maps and on close,
*commits*: it syncs the data to disk, then replaces the manifest atomically. A
reader trusts the manifest only, so it sees the state of one commit, never a map
half written; bytes after the last committed map are dropped when a writer resumes.

Reading goes through ``os.pread`` into a fresh buffer rather than through a memory
map, so that streaming over a collection larger than memory keeps resident memory flat
(touched pages of a memory map count as resident until unmapped).
"""

import fcntl
import json
import os
import threading
import uuid
import warnings
import weakref
import zlib

import numpy as np

from ._manifest import (DTYPES, LEGACY_FILES, LEGACY_INDEX, MANIFEST, CorruptStoreError,
                        StaleStoreError, StoreLockedError, commit_record, read_legacy, read_record)
from ._validation import as_numpy

__all__ = ["MapFile", "MapWriter", "write_maps"]

_LOCK = "lock"
_FLOAT16_MAX = float(np.finfo(np.float16).max)


def _stat_key(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _to_float32(half):
    """float16 (n,) -> float32, through torch: ~40x faster than numpy's conversion."""
    import torch

    return torch.from_numpy(half).float().numpy()


def _to_float16(A, index):
    """float32 map -> float16, refusing values beyond float16's range (never inf)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch on a read-only array: not written
        half = torch.from_numpy(A).half()
    if not bool(torch.isfinite(half).all()):
        finite = np.isfinite(A)
        what = (f"values up to {float(np.abs(A[finite]).max()):.4g}" if finite.all()
                else "values that are not finite")
        raise ValueError(
            f"image {index}: the map holds {what}; float16 stores at most {_FLOAT16_MAX:g} in "
            "magnitude. Scale the maps, or write them with dtype='float32'.")
    return half.numpy()


class MapFile:
    """Read-only, lazily read activation maps stored in a map folder.

    Parameters
    ----------
    path : str or path-like
        A folder written by :class:`MapWriter` or :func:`write_maps`.

    Attributes
    ----------
    index : ndarray of shape (n, 4)
        Offset (in values), h, w, c of each map.
    boxes : ndarray of shape (n, 4) or None
        The box of each image, rows of -1 where none.
    names : list of str or None
        The name each map was written with.
    dtype : numpy.dtype
        How the maps are stored (float32 or float16); they are always read as float32.
    settings : dict or None
        What made the maps, as recorded by the writer (for extracted maps: backbone,
        layer, weights digest, ``max_side``, ...).

    Notes
    -----
    Only the committed record (``manifest.json``) is read: maps a writer appended but
    has not committed yet are not seen. A damaged folder raises
    :class:`~sklearn_salreg.CorruptStoreError` naming the file.

    Pickling stores the path and the index, not the data: a ``MapFile`` sent to a
    joblib worker, or hashed by ``Pipeline(memory=...)``, costs a few bytes per image.
    The folder's identity and committed state are part of the pickled state, and the
    first read (after unpickling, or after opening) checks them: a folder replaced by
    other maps since then raises :class:`~sklearn_salreg.StaleStoreError` instead of
    being read.
    Maps committed later by a writer that appends to the same folder are fine.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_salreg import MapFile, write_maps
    >>> maps = [np.ones((2, 3, 4), np.float32), np.zeros((5, 6, 4), np.float32)]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_maps(f"{folder}/maps", maps, dtype="float16")
    ...     stored = MapFile(f"{folder}/maps")
    ...     print(stored.index.tolist(), stored.dtype, stored.shape_of(1))
    [[0, 2, 3, 4], [24, 5, 6, 4]] float16 (5, 6, 4)
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        stamp = self._stamp_now()
        record = read_record(self.path)
        if record is None:
            record = read_legacy(self.path)
        if record is None:
            raise FileNotFoundError(f"{self.path!r} is not a map folder: {MANIFEST} is missing.")
        shapes = record["shapes"]
        sizes = np.prod(shapes, axis=1, dtype=np.int64)
        self.index = np.column_stack([np.cumsum(sizes) - sizes, shapes]).astype(np.int64)
        self.boxes = record["boxes"]
        self.names = list(record["names"])
        self.dtype = np.dtype(record["dtype"])
        self.settings = record["settings"]
        self._uuid = record["uuid"]
        self._crc = record["crc32"]
        self._data = record["data"]
        self._data_bytes = record["data_bytes"]
        self._stamp = stamp
        self._fd = None
        self._lock = threading.Lock()

    def _stamp_now(self):
        if os.path.exists(os.path.join(self.path, MANIFEST)):
            return ("manifest", _stat_key(os.path.join(self.path, MANIFEST)))
        # a folder in the old layout: any change to its index or data counts
        return ("legacy", _stat_key(os.path.join(self.path, LEGACY_INDEX)),
                _stat_key(os.path.join(self.path, DTYPES["float32"])))

    def __len__(self):
        return len(self.index)

    def shape_of(self, i):
        """Shape (h, w, c) of map ``i`` without reading it."""
        return tuple(int(v) for v in self.index[i, 1:])

    def _check_unchanged(self):
        """Raise StaleStoreError unless the folder still holds the maps this object describes."""
        now = self._stamp_now()
        if now == self._stamp:
            return
        problem = None
        record = read_record(self.path) if now[0] == "manifest" else None
        n = len(self)
        if record is None:
            problem = "its map files were rewritten"
        elif self._uuid is None or record["uuid"] != self._uuid:
            problem = "it is another map folder now (a new store id)"
        elif (record["n_maps"] < n or record["dtype"] != self.dtype.name
              or not np.array_equal(record["shapes"][:n], self.index[:, 1:])
              or not np.array_equal(record["crc32"][:n], self._crc)):
            problem = "its committed maps are not the ones this collection describes"
        if problem:
            raise StaleStoreError(
                f"the map folder {self.path!r} changed since this collection was opened or "
                f"pickled: {problem}. Open it again with MapCollection.open.")
        # maps were only appended: what this object describes is intact. The stamp stays
        # as it was, so that hashing the object (Pipeline(memory=...)) gives the same key.

    def _open_data(self, i):
        with self._lock:
            if self._fd is not None:
                return self._fd
            self._check_unchanged()
            data_path = os.path.join(self.path, self._data)
            try:
                fd = os.open(data_path, os.O_RDONLY)
            except FileNotFoundError:
                raise CorruptStoreError(
                    f"image {i}: the data file {data_path!r} is missing.") from None
            size = os.fstat(fd).st_size
            if size < self._data_bytes:
                os.close(fd)
                raise CorruptStoreError(
                    f"image {i}: the data file {data_path!r} is truncated: it holds {size} "
                    f"bytes, the record of its {len(self)} maps needs {self._data_bytes}.")
            self._fd = fd
            return fd

    def _read_bytes(self, i):
        offset, h, w, c = (int(v) for v in self.index[i])
        fd = self._fd if self._fd is not None else self._open_data(i)
        itemsize = self.dtype.itemsize
        count = h * w * c
        if itemsize == 4:  # float32: the bytes are the map
            buf = os.pread(fd, itemsize * count, itemsize * offset)
            n_read = len(buf)
        else:
            buf = np.empty(count, dtype=self.dtype)
            n_read = os.preadv(fd, [buf], itemsize * offset)
        if n_read != itemsize * count:
            raise CorruptStoreError(
                f"image {i}: the data file {os.path.join(self.path, self._data)!r} is truncated "
                f"(expected {count} values at offset {offset}).")
        return buf, (h, w, c)

    def __getitem__(self, i):
        buf, shape = self._read_bytes(i)
        if isinstance(buf, bytes):  # float32
            # frombuffer gives a read-only view of an immutable bytes object: a stage that
            # tried to modify its input would fail loudly instead of corrupting anything.
            return np.frombuffer(buf, dtype=np.float32).reshape(shape)
        A = _to_float32(buf).reshape(shape)
        A.flags.writeable = False
        return A

    def verify(self):
        """Read every map and check it against its checksum; raise CorruptStoreError if not.

        Checksums are not verified by ordinary reads (a CRC costs several times a
        read from the page cache); call this after copying a folder, or to look for
        damage. Maps of folders converted from the old layout have no checksum.
        """
        for i in range(len(self)):
            if self._crc[i] < 0:
                continue
            buf, _ = self._read_bytes(i)
            if zlib.crc32(buf) != self._crc[i]:
                raise CorruptStoreError(
                    f"image {i}: the bytes in {os.path.join(self.path, self._data)!r} do not "
                    f"match the checksum that {MANIFEST} recorded when they were written.")

    def box(self, i):
        """The box of image ``i`` as an int array (4,), or None."""
        if self.boxes is None or self.boxes[i, 0] < 0:
            return None
        return self.boxes[i].copy()

    def __getstate__(self):
        return {key: getattr(self, key) for key in (
            "path", "index", "boxes", "names", "dtype", "settings", "_uuid", "_crc", "_data",
            "_data_bytes", "_stamp")}

    def __setstate__(self, state):
        for key, value in state.items():
            setattr(self, key, value)
        self._fd = None  # the first read checks the stamp again
        self._lock = threading.Lock()

    def __del__(self):
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self):
        return f"MapFile({self.path!r}, n_maps={len(self)})"


def _jsonable(settings):
    """``settings`` as plain JSON values (tuples become lists), or a TypeError."""
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict or None; got {type(settings).__name__}.")
    try:
        return json.loads(json.dumps(settings))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"settings must hold JSON values only: {exc}.") from None


def _check_settings(path, recorded, given, n_maps):
    """The settings to record; a ValueError naming both values where they disagree."""
    if given is None:
        return recorded
    if recorded is None or n_maps == 0:
        if n_maps:
            warnings.warn(f"the map folder {path!r} holds {n_maps} maps but does not record "
                          f"what made them; assuming {given}.", UserWarning, stacklevel=4)
        return given
    missing = "<not recorded>"
    for key in sorted(set(recorded) | set(given)):
        old, new = recorded.get(key, missing), given.get(key, missing)
        if old != new:
            raise ValueError(
                f"the map folder {path!r} holds maps made with {key}={old!r}; resuming it with "
                f"{key}={new!r} would mix maps of different settings. Write to another folder, "
                "or resume with the same settings.")
    return recorded


def _take_lock(folder):
    path = os.path.join(folder, _LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 100, 0).decode(errors="replace").strip() or "another writer"
        os.close(fd)
        raise StoreLockedError(
            f"the map folder {folder!r} is open for writing by {holder}: a folder has a single "
            "writer. Close that MapWriter (or wait for its extraction to end) first; readers "
            "(MapCollection.open) need no lock.") from None
    try:  # who holds it, for the message a second writer gets
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}, thread {threading.current_thread().name}"
                  .encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


class _State:
    """What a writer holds, kept apart from the writer so that its finalizer can commit it."""

    def __init__(self, path, record, lock_fd):
        self.path, self.lock_fd, self.fd = path, lock_fd, None
        self.pid = os.getpid()
        self.uuid, self.dtype, self.data = record["uuid"], record["dtype"], record["data"]
        self.n_channels, self.settings = record["n_channels"], record["settings"]
        self.names = list(record["names"])
        self.shapes = [tuple(int(v) for v in s) for s in record["shapes"]]
        boxes = record["boxes"]
        self.boxes = [None if boxes is None or b[0] < 0 else tuple(int(v) for v in b)
                      for b in (boxes if boxes is not None else [None] * len(self.shapes))]
        self.crc32 = [int(v) for v in record["crc32"]]
        self.data_bytes = record["data_bytes"]
        self.pending = 0

    @property
    def closed(self):
        return self.lock_fd is None

    def commit(self):
        os.fsync(self.fd)  # the data reaches the disk before the record that points at it
        commit_record(self.path, {
            "uuid": self.uuid, "dtype": self.dtype, "data": self.data,
            "n_channels": self.n_channels, "settings": self.settings,
            "data_bytes": self.data_bytes, "names": self.names, "shapes": self.shapes,
            "boxes": self.boxes if any(b is not None for b in self.boxes) else None,
            "crc32": self.crc32})
        self.pending = 0

    def release(self):
        for name in ("fd", "lock_fd"):
            fd = getattr(self, name)
            setattr(self, name, None)
            if fd is not None:
                os.close(fd)  # closing the lock file releases the lock


def _commit_unclosed(state):
    """weakref.finalize callback: a writer collected or alive at exit without close()."""
    if state.closed or state.pid != os.getpid():
        return  # closed; or a forked child's copy, which must not write its parent's folder
    try:
        if state.fd is not None:
            state.commit()
        warnings.warn(f"a MapWriter on {state.path!r} was not closed; its {len(state.shapes)} "
                      "maps were committed when it was collected or at exit.", ResourceWarning)
    except Exception as exc:  # noqa: BLE001 - at exit, warn rather than lose the reason
        warnings.warn(f"a MapWriter on {state.path!r} was not closed, and committing its last "
                      f"{state.pending} maps failed ({exc!r}): they are lost.", RuntimeWarning)
    finally:
        state.release()


class MapWriter:
    """Append activation maps to a map folder; reopening it resumes where it stopped.

    A folder has one writer at a time (a second gets
    :class:`~sklearn_salreg.StoreLockedError`) and
    any number of readers, which see the maps of the last commit. A commit syncs the
    data, then atomically replaces the record (``manifest.json``): a crash at any
    point leaves the folder as it was at one commit or the next. Commits happen every
    ``flush_every`` maps, on :meth:`flush`, on :meth:`close` (or leaving a ``with``
    block), and when a writer that was never closed is garbage collected or the
    interpreter exits normally.

    Parameters
    ----------
    path : str or path-like
        The folder; created if missing. When it already holds maps, new maps are
        appended after them and :attr:`names` tells which images are done. Data a
        crashed writer appended after its last commit is dropped, with a warning;
        a data file shorter than its record is refused.
    flush_every : int, default=16
        Maps appended between two commits: a crash loses at most that many maps (or
        0.1 % of the folder's maps, where that is more: a commit rewrites the whole
        record, about 50 bytes per map).
    dtype : {"float32", "float16"}, default="float32"
        How maps are stored. float16 takes half the disk and is read back as float32
        (about 3 significant digits; values beyond +-65504 are refused). Resuming a
        folder with another dtype is an error.
    settings : dict or None, default=None
        JSON values that describe what made the maps (an extractor records its
        backbone, layer, weights digest and image size). The folder keeps them;
        resuming it with other settings raises a ValueError naming both values.
        None: not checked.

    Attributes
    ----------
    names : list of str or None
        The name of each map in the folder (committed or not), in order.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from sklearn_salreg import MapCollection, MapWriter
    >>> folder = tempfile.mkdtemp()
    >>> with MapWriter(folder) as writer:
    ...     writer.append(np.ones((3, 4, 8), np.float32), name="a.jpg")
    >>> len(MapCollection.open(folder))
    1
    """

    def __init__(self, path, flush_every=16, dtype="float32", settings=None):
        self.path = os.fspath(path)
        self.flush_every = flush_every
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}.")
        settings = None if settings is None else _jsonable(settings)
        os.makedirs(self.path, exist_ok=True)
        lock_fd = _take_lock(self.path)
        try:
            self._state = self._open(lock_fd, dtype, settings)
        except BaseException:
            os.close(lock_fd)
            raise
        self._finalizer = weakref.finalize(self, _commit_unclosed, self._state)

    def _open(self, lock_fd, dtype, settings):
        path = self.path
        record = read_record(path)
        legacy = record is None and read_legacy(path, lenient=True)
        if legacy:
            record = legacy
        fresh = record is None
        if fresh:
            record = {"uuid": None, "dtype": dtype, "data": DTYPES[dtype], "n_channels": None,
                      "settings": settings, "names": [], "shapes": np.zeros((0, 3), np.int64),
                      "boxes": None, "crc32": [], "data_bytes": 0}
        elif record["dtype"] != dtype:
            raise ValueError(
                f"the map folder {path!r} stores its maps as dtype={record['dtype']!r}; resuming "
                f"it with dtype={dtype!r} would mix them. Resume with dtype={record['dtype']!r}.")
        settings_before = record["settings"]
        record["settings"] = _check_settings(path, settings_before, settings, len(record["shapes"]))
        record["uuid"] = record["uuid"] or uuid.uuid4().hex
        state = _State(path, record, lock_fd)
        data_path = os.path.join(path, state.data)
        if state.data_bytes and not os.path.exists(data_path):
            raise CorruptStoreError(f"the data file {data_path!r} of {len(state.shapes)} "
                                    "committed maps is missing.")
        state.fd = os.open(data_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(state.fd).st_size
            if size < state.data_bytes:
                raise CorruptStoreError(
                    f"the data file {data_path!r} is truncated: it holds {size} bytes, but the "
                    f"{len(state.shapes)} committed maps need {state.data_bytes}. Refusing to "
                    "resume (nothing is padded): restore the file, or write a new folder.")
            if size > state.data_bytes:
                warnings.warn(
                    f"{data_path!r}: dropping {size - state.data_bytes} bytes after the last "
                    "committed map (appended by a writer that stopped before committing them).",
                    UserWarning, stacklevel=3)
                os.ftruncate(state.fd, state.data_bytes)
                os.fsync(state.fd)
            if fresh or legacy or record["settings"] != settings_before:
                state.commit()
            if legacy:
                warnings.warn(f"the map folder {path!r} was converted to the current layout "
                              f"({MANIFEST}).", UserWarning, stacklevel=3)
            for name in (*LEGACY_FILES, MANIFEST + ".tmp"):  # superseded by the manifest
                if os.path.exists(os.path.join(path, name)):
                    os.unlink(os.path.join(path, name))
        except BaseException:
            os.close(state.fd)
            raise
        return state

    @property
    def names(self):
        return self._state.names

    @property
    def dtype(self):
        return self._state.dtype

    def __len__(self):
        return len(self._state.shapes)

    def _live(self):
        if self._state.closed:
            raise ValueError(f"this MapWriter on {self.path!r} is closed.")
        return self._state

    def append(self, A, name=None, box=None):
        """Append one map (h, w, c), with an optional name and box [y0, x0, y1, x1)."""
        state = self._live()
        i = len(state.shapes)
        A = as_numpy(A)
        if A.ndim != 3 or 0 in A.shape:
            raise ValueError(f"image {i}: maps must be 3-D (h, w, c) and not empty; "
                             f"got shape {A.shape}.")
        if state.n_channels is not None and A.shape[2] != state.n_channels:
            raise ValueError(f"image {i}: the map has {A.shape[2]} channels; the folder "
                             f"{self.path!r} holds maps of {state.n_channels} channels.")
        if box is not None:
            box = tuple(int(v) for v in np.asarray(box).reshape(-1))
            if len(box) != 4:
                raise ValueError(f"image {i}: a box is 4 integers [y0, x0, y1, x1); got {box}.")
        A = np.ascontiguousarray(A, dtype=np.float32)
        stored = _to_float16(A, i) if state.dtype == "float16" else A
        data = memoryview(stored).cast("B")
        crc = zlib.crc32(data)
        offset, view = state.data_bytes, data
        while view:
            view = view[os.pwrite(state.fd, view, offset):]
            offset = state.data_bytes + len(data) - len(view)
        state.data_bytes += len(data)
        state.shapes.append(A.shape)
        state.boxes.append(box)
        state.names.append(None if name is None else str(name))
        state.crc32.append(crc)
        state.n_channels = A.shape[2]
        state.pending += 1
        # every flush_every maps, or every 0.1 % of the maps where that is more: each commit
        # rewrites the whole record (5 MB at 100,000 maps), which must stay a small cost
        if state.pending >= max(self.flush_every, len(state.shapes) // 1000):
            state.commit()

    def flush(self):
        """Commit: after this, a crash loses nothing appended so far."""
        self._live().commit()

    def close(self):
        """Commit and close; closing twice is harmless."""
        if not self._state.closed:
            try:
                self._state.commit()
            finally:
                self._state.release()
                self._finalizer.detach()

    def abort(self):
        """Close without committing: maps appended since the last commit are dropped."""
        self._state.release()
        self._finalizer.detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_maps(path, maps, boxes=None, names=None, dtype="float32"):
    """Write a sequence of maps to a new map folder and return it as a :class:`MapFile`.

    Parameters
    ----------
    path : str or path-like
        Folder to create; it must not already hold maps.
    maps : iterable of array-like (h, w, c)
    boxes : sequence of (4,) or None, default=None
    names : sequence of str, default=None
    dtype : {"float32", "float16"}, default="float32"
        How the maps are stored (see :class:`MapWriter`).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_salreg import write_maps
    >>> maps = [np.ones((2, 3, 4), np.float32), np.zeros((5, 6, 4), np.float32)]
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     stored = write_maps(f"{folder}/maps", maps)
    ...     print(len(stored), stored.shape_of(1))
    2 (5, 6, 4)
    """
    folder = os.fspath(path)
    if any(os.path.exists(os.path.join(folder, f)) for f in (MANIFEST, LEGACY_INDEX)):
        raise FileExistsError(f"{folder!r} already holds maps; use MapWriter to append.")
    with MapWriter(path, flush_every=1 << 30, dtype=dtype) as writer:
        for i, A in enumerate(maps):
            box = None if boxes is None else boxes[i]
            name = None if names is None else names[i]
            writer.append(A, name=name, box=box)
    return MapFile(path)
