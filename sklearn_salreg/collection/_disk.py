"""A folder on disk that holds activation maps of varying size, read one at a time.

Layout of a map folder::

    data.f32     all maps, float32, C order (h, w, c), one after the other
    index.npy    int64 (n, 4): offset in elements, h, w, c
    boxes.npy    int64 (n, 4): optional box per image [y0, x0, y1, x1), -1 where none
    names.json   one name per image (e.g. the image path), used to resume a writer

Reading goes through ``os.pread`` into a fresh buffer rather than through a memory
map, so that streaming over a collection larger than memory keeps resident memory flat
(touched pages of a memory map count as resident until unmapped).
"""

import json
import os
import threading

import numpy as np

from ._validation import as_numpy

__all__ = ["MapFile", "MapWriter", "write_maps"]

_DATA, _INDEX, _BOXES, _NAMES = "data.f32", "index.npy", "boxes.npy", "names.json"


def _atomic_save_npy(path, array):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _atomic_save_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


class MapFile:
    """Read-only, lazily read activation maps stored in a map folder.

    Parameters
    ----------
    path : str or path-like
        A folder written by :class:`MapWriter` or :func:`write_maps`.

    Notes
    -----
    Pickling stores the path and the index, not the data: a ``MapFile`` sent to a
    joblib worker, or hashed by ``Pipeline(memory=...)``, costs a few bytes per image.
    The size and modification time of the data file are part of the pickled state, so
    a cache keyed on it is invalidated when the file changes.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        index_path = os.path.join(self.path, _INDEX)
        if not os.path.exists(index_path):
            raise FileNotFoundError(f"{self.path!r} is not a map folder: {_INDEX} is missing.")
        self.index = np.load(index_path)
        boxes_path = os.path.join(self.path, _BOXES)
        self.boxes = np.load(boxes_path) if os.path.exists(boxes_path) else None
        names_path = os.path.join(self.path, _NAMES)
        if os.path.exists(names_path):
            with open(names_path) as f:
                self.names = json.load(f)
        else:
            self.names = None
        self._fd = None
        self._lock = threading.Lock()
        stat = os.stat(os.path.join(self.path, _DATA))
        self._stamp = (stat.st_size, stat.st_mtime_ns)

    def __len__(self):
        return len(self.index)

    def shape_of(self, i):
        """Shape (h, w, c) of map ``i`` without reading it."""
        return tuple(int(v) for v in self.index[i, 1:])

    def __getitem__(self, i):
        offset, h, w, c = (int(v) for v in self.index[i])
        count = h * w * c
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(os.path.join(self.path, _DATA), os.O_RDONLY)
        buf = os.pread(self._fd, 4 * count, 4 * offset)
        if len(buf) != 4 * count:
            raise ValueError(
                f"image {i}: the map file {self.path!r} is truncated "
                f"(expected {count} values at offset {offset})."
            )
        # frombuffer gives a read-only view of an immutable bytes object: a stage that
        # tried to modify its input would fail loudly instead of corrupting anything.
        return np.frombuffer(buf, dtype=np.float32).reshape(h, w, c)

    def box(self, i):
        """The box of image ``i`` as an int array (4,), or None."""
        if self.boxes is None or self.boxes[i, 0] < 0:
            return None
        return self.boxes[i].copy()

    def __getstate__(self):
        return {"path": self.path, "index": self.index, "boxes": self.boxes,
                "names": self.names, "stamp": self._stamp}

    def __setstate__(self, state):
        self.path = state["path"]
        self.index = state["index"]
        self.boxes = state["boxes"]
        self.names = state["names"]
        self._stamp = state["stamp"]
        self._fd = None
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


class MapWriter:
    """Append activation maps to a map folder; reopening it resumes where it stopped.

    Parameters
    ----------
    path : str or path-like
        The folder; created if missing. When it already holds maps, new maps are
        appended after them and :attr:`names` tells which images are done.
    flush_every : int, default=16
        The index is rewritten (atomically) every ``flush_every`` maps, so a crash loses
        at most that many maps; data written after the last flush is discarded on resume.

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

    def __init__(self, path, flush_every=16):
        self.path = os.fspath(path)
        self.flush_every = flush_every
        os.makedirs(self.path, exist_ok=True)
        data_path = os.path.join(self.path, _DATA)
        index_path = os.path.join(self.path, _INDEX)
        if os.path.exists(index_path):
            existing = MapFile(self.path)
            self._index = [tuple(int(v) for v in row) for row in existing.index]
            self._boxes = (
                [tuple(int(v) for v in row) for row in existing.boxes]
                if existing.boxes is not None else [(-1, -1, -1, -1)] * len(self._index)
            )
            self.names = list(existing.names) if existing.names is not None else [None] * len(self._index)
        else:
            self._index, self._boxes, self.names = [], [], []
        end = self._end()
        # Drop a tail written after the last flush: it has no index entry.
        with open(data_path, "ab") as f:
            f.truncate(4 * end)
        self._file = open(data_path, "ab")
        self._pending = 0

    def _end(self):
        if not self._index:
            return 0
        offset, h, w, c = self._index[-1]
        return offset + h * w * c

    def __len__(self):
        return len(self._index)

    def append(self, A, name=None, box=None):
        """Append one map (h, w, c), with an optional name and box [y0, x0, y1, x1)."""
        A = np.ascontiguousarray(A, dtype=np.float32)
        if A.ndim != 3:
            raise ValueError(f"image {len(self)}: maps must be 3-D (h, w, c); got shape {A.shape}.")
        offset = self._end()
        self._file.write(A.tobytes())
        self._index.append((offset, *A.shape))
        self._boxes.append(tuple(int(v) for v in box) if box is not None else (-1, -1, -1, -1))
        self.names.append(None if name is None else str(name))
        self._pending += 1
        if self._pending >= self.flush_every:
            self.flush()

    def flush(self):
        """Write data and index to disk; after this, a crash loses nothing appended so far."""
        self._file.flush()
        os.fsync(self._file.fileno())
        index = np.asarray(self._index, dtype=np.int64).reshape(-1, 4)
        boxes = np.asarray(self._boxes, dtype=np.int64).reshape(-1, 4)
        if (boxes >= 0).any():
            _atomic_save_npy(os.path.join(self.path, _BOXES), boxes)
        _atomic_save_json(os.path.join(self.path, _NAMES), self.names)
        _atomic_save_npy(os.path.join(self.path, _INDEX), index)
        self._pending = 0

    def close(self):
        """Flush and close the data file."""
        if not self._file.closed:
            self.flush()
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_maps(path, maps, boxes=None, names=None):
    """Write a sequence of maps to a new map folder and return it as a :class:`MapFile`.

    Parameters
    ----------
    path : str or path-like
        Folder to create; it must not already hold maps.
    maps : iterable of array-like (h, w, c)
    boxes : sequence of (4,) or None, default=None
    names : sequence of str, default=None
    """
    if os.path.exists(os.path.join(os.fspath(path), _INDEX)):
        raise FileExistsError(f"{os.fspath(path)!r} already holds maps; use MapWriter to append.")
    with MapWriter(path, flush_every=1 << 30) as writer:
        for i, A in enumerate(maps):
            box = None if boxes is None else boxes[i]
            name = None if names is None else names[i]
            writer.append(as_numpy(A), name=name, box=box)
    return MapFile(path)
