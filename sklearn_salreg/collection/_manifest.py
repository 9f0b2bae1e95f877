"""The commit record of a map folder: what it holds, read, checked and written atomically.

A map folder holds one data file and one commit record, ``manifest.json``::

    {"format": "sklearn_salreg map folder", "version": 2,
     "uuid": "...",                  # identity of the folder, made when it is created
     "dtype": "float32",             # or "float16": how the maps are stored
     "data": "data.f32",             # the data file ("data.f16" for float16)
     "n_channels": 512,              # c of every map (null while the folder is empty)
     "settings": {...},              # what made the maps (e.g. the extractor's backbone,
                                     # layer, weights digest, max_side), or null
     "n_maps": n, "data_bytes": ..., # committed maps and the bytes they fill
     "names": [...],                 # one name (or null) per map
     "shapes": [[h, w, c], ...],     # maps lie one after the other, in this order
     "boxes": [[y0, x0, y1, x1] or null, ...] or null,
     "crc32": [...]}                 # zlib.crc32 of each map's bytes (null: not known)

The record is the only thing a reader trusts: bytes of the data file after
``data_bytes`` are ignored, and every field is checked on reading, so that a damaged
folder is reported naming the file and what is wrong (:class:`CorruptStoreError`)
instead of being read out of step. It is replaced atomically (:func:`commit_record`).

Folders written before the record existed (``index.npy``, ``names.json``,
``boxes.npy`` next to ``data.f32``) are read by :func:`read_legacy`; a
:class:`~sklearn_salreg.MapWriter` that opens one converts it.
"""

import json
import os

import numpy as np

__all__ = ["CorruptStoreError", "StaleStoreError", "StoreLockedError", "commit_record",
           "read_record", "read_legacy", "DTYPES", "MANIFEST", "LEGACY_FILES"]

FORMAT, VERSION = "sklearn_salreg map folder", 2
MANIFEST = "manifest.json"
#: Storage dtypes and the name of their data file.
DTYPES = {"float32": "data.f32", "float16": "data.f16"}
LEGACY_INDEX, LEGACY_BOXES, LEGACY_NAMES = "index.npy", "boxes.npy", "names.json"
LEGACY_FILES = (LEGACY_INDEX, LEGACY_BOXES, LEGACY_NAMES)


class CorruptStoreError(ValueError):
    """A map folder's files are damaged or disagree; the message names the file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_salreg import CorruptStoreError, MapFile, write_maps
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_maps(f"{folder}/maps", [np.ones((2, 3, 4), np.float32)])
    ...     with open(f"{folder}/maps/manifest.json", "w") as f:
    ...         _ = f.write("{")  # a truncated record
    ...     try:
    ...         MapFile(f"{folder}/maps")
    ...     except CorruptStoreError as exc:
    ...         print("manifest.json: not valid JSON" in str(exc))
    True
    """


class StoreLockedError(RuntimeError):
    """Another :class:`~sklearn_salreg.MapWriter` holds the map folder.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_salreg import MapWriter, StoreLockedError
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with MapWriter(folder) as writer:
    ...         writer.append(np.ones((2, 3, 4), np.float32))
    ...         try:
    ...             MapWriter(folder).__enter__()  # a second writer
    ...         except StoreLockedError:
    ...             print("locked")
    locked
    """


class StaleStoreError(ValueError):
    """A map folder changed since a collection over it was opened or pickled.

    Examples
    --------
    >>> import shutil, tempfile
    >>> import numpy as np
    >>> from sklearn_salreg import MapFile, StaleStoreError, write_maps
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_maps(f"{folder}/maps", [np.ones((2, 3, 4), np.float32)])
    ...     stored = MapFile(f"{folder}/maps")
    ...     shutil.rmtree(f"{folder}/maps")  # replaced by other maps
    ...     _ = write_maps(f"{folder}/maps", [np.zeros((2, 3, 4), np.float32)])
    ...     try:
    ...         stored.verify()
    ...     except StaleStoreError:
    ...         print("stale")
    stale
    """


def _fail(path, what):
    raise CorruptStoreError(f"{path}: {what}")


def _int_rows(value, n, width, path, key, allow_none):
    """``value`` as an (n, width) int64 array (rows of -1 where None is allowed)."""
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
        _fail(path, f"{key!r} must be a list of {n} entries (n_maps); got {got}.")
    try:  # the common case, vectorised: n rows of ints
        rows = np.array(value)
        if rows.shape == (n, width) and rows.dtype.kind == "i":
            return rows.astype(np.int64, copy=False)
    except (ValueError, TypeError, OverflowError):
        pass
    rows = np.full((n, width), -1, dtype=np.int64)
    for i, row in enumerate(value):
        if row is None and allow_none:
            continue
        if not isinstance(row, list) or len(row) != width or not all(type(v) is int for v in row):
            _fail(path, f"{key!r}[{i}] must be a list of {width} integers; got {row!r}.")
        rows[i] = row
    return rows


def parse_record(obj, path):
    """Check a decoded manifest and return it with ``shapes``/``boxes``/``crc32`` as arrays."""
    if not isinstance(obj, dict):
        _fail(path, f"expected a JSON object; got {type(obj).__name__}.")
    if obj.get("format") != FORMAT:
        _fail(path, f"not a map folder record (format {obj.get('format')!r}).")
    if obj.get("version") != VERSION:
        _fail(path, f"format version {obj.get('version')!r}; this library reads version "
                    f"{VERSION} (a newer sklearn_salreg may have written it).")
    expected = {"uuid": str, "dtype": str, "data": str, "n_maps": int, "data_bytes": int,
                "names": list, "shapes": list, "crc32": list}
    for key, kind in expected.items():
        if type(obj.get(key)) is not kind:
            _fail(path, f"{key!r} must be a {kind.__name__}; got {type(obj.get(key)).__name__}.")
    if DTYPES.get(obj["dtype"]) != obj["data"]:
        _fail(path, f"dtype {obj['dtype']!r} with data file {obj['data']!r}; expected one of "
                    f"{DTYPES}.")
    n = obj["n_maps"]
    if n < 0:
        _fail(path, f"'n_maps' is negative ({n}).")
    c = obj.get("n_channels")
    if not (c is None or (type(c) is int and c >= 1)):
        _fail(path, f"'n_channels' must be a positive integer or null; got {c!r}.")
    if not (obj.get("settings") is None or isinstance(obj["settings"], dict)):
        _fail(path, f"'settings' must be an object or null; got {type(obj['settings']).__name__}.")
    names = obj["names"]
    if len(names) != n or not all(name is None or isinstance(name, str) for name in names):
        _fail(path, f"'names' must hold {n} strings or nulls (one per map); got {len(names)} "
                    "entries" + ("" if len(names) != n else " of other types") + ".")
    shapes = _int_rows(obj["shapes"], n, 3, path, "shapes", allow_none=False)
    if n and (shapes < 1).any():
        i = int(np.flatnonzero((shapes < 1).any(axis=1))[0])
        _fail(path, f"map {i} has shape {shapes[i].tolist()}; every side must be >= 1.")
    if n and (c is None or (shapes[:, 2] != c).any()):
        i = 0 if c is None else int(np.flatnonzero(shapes[:, 2] != c)[0])
        _fail(path, f"map {i} has {shapes[i, 2]} channels; 'n_channels' is {c}.")
    boxes = obj.get("boxes")
    if boxes is not None:
        boxes = _int_rows(boxes, n, 4, path, "boxes", allow_none=True)
    crc = obj["crc32"]
    if len(crc) != n or not all(v is None or (type(v) is int and 0 <= v < 2**32) for v in crc):
        _fail(path, f"'crc32' must hold {n} 32-bit unsigned integers or nulls.")
    itemsize = np.dtype(obj["dtype"]).itemsize
    size = itemsize * int(np.prod(shapes, axis=1).sum()) if n else 0
    if obj["data_bytes"] != size:
        _fail(path, f"'data_bytes' is {obj['data_bytes']} but the {n} maps' shapes fill "
                    f"{size} bytes.")
    return {**obj, "shapes": shapes, "boxes": boxes,
            "crc32": np.array([-1 if v is None else v for v in crc], dtype=np.int64)}


def _json(raw, path):
    """The JSON value in the bytes ``raw`` read from ``path``; CorruptStoreError if none."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(path, f"not valid JSON ({exc}).")


def read_record(folder):
    """The committed record of ``folder`` (checked), or None where it has none."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    if not raw:
        _fail(path, "the file is empty (zero bytes).")
    return parse_record(_json(raw, path), path)


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except Exception as exc:  # EOFError, ValueError, OSError: all mean a damaged file
        _fail(path, f"not a readable .npy file ({type(exc).__name__}: {exc}).")


def read_legacy(folder, lenient=False):
    """The record of a folder written before ``manifest.json`` existed, or None.

    ``lenient`` accepts names and boxes longer than the index (the state a crash between
    their writes left behind) and drops the extra entries.
    """
    index_path = os.path.join(folder, LEGACY_INDEX)
    if not os.path.exists(index_path):
        return None
    index = _load_npy(index_path)
    if index.ndim != 2 or index.shape[1] != 4 or index.dtype.kind not in "iu":
        _fail(index_path, f"expected an int array (n, 4); got {index.dtype} {index.shape}.")
    index = index.astype(np.int64)
    n = len(index)
    shapes = index[:, 1:]
    ends = np.cumsum(np.prod(shapes, axis=1))
    if n and ((shapes < 1).any() or (index[:, 0] != np.concatenate([[0], ends[:-1]])).any()
              or (shapes[:, 2] != shapes[0, 2]).any()):
        _fail(index_path, "rows are not maps (offset, h, w, c) stored one after the other.")

    def check_length(what, path, length):
        if length == n or (lenient and length > n):
            return
        _fail(path, f"{length} {what} for the {n} maps of {LEGACY_INDEX}.")

    names_path = os.path.join(folder, LEGACY_NAMES)
    names = [None] * n
    if os.path.exists(names_path):
        with open(names_path, "rb") as f:
            names = _json(f.read(), names_path)
        if not isinstance(names, list) or not all(v is None or isinstance(v, str) for v in names):
            _fail(names_path, f"expected a list of names; got {type(names).__name__}"
                              + (" with other entries." if isinstance(names, list) else "."))
        check_length("names", names_path, len(names))
    boxes_path = os.path.join(folder, LEGACY_BOXES)
    boxes = None
    if os.path.exists(boxes_path):
        boxes = _load_npy(boxes_path)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or boxes.dtype.kind not in "iu":
            _fail(boxes_path, f"expected an int array (n, 4); got {boxes.dtype} {boxes.shape}.")
        check_length("boxes", boxes_path, len(boxes))
        boxes = boxes[:n].astype(np.int64)
    return {"format": FORMAT, "version": 1, "uuid": None, "dtype": "float32",
            "data": DTYPES["float32"], "n_channels": int(shapes[0, 2]) if n else None,
            "settings": None, "n_maps": n, "data_bytes": 4 * int(ends[-1]) if n else 0,
            "names": names[:n], "shapes": shapes, "boxes": boxes,
            "crc32": np.full(n, -1, dtype=np.int64)}


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_record(folder, record):
    """Write ``record`` as the folder's manifest: temp file, fsync, rename, fsync of the folder.

    A crash at any point leaves either the previous manifest or this one, never a mix.
    """
    shapes, boxes = record["shapes"], record["boxes"]
    obj = {"format": FORMAT, "version": VERSION,
           **{key: record[key] for key in ("uuid", "dtype", "data", "n_channels", "settings")},
           "n_maps": len(shapes), "data_bytes": record["data_bytes"],
           "names": list(record["names"]),
           "shapes": [[int(v) for v in shape] for shape in shapes],
           "boxes": None if boxes is None else [None if b is None else [int(v) for v in b]
                                                for b in boxes],
           "crc32": [None if v < 0 else int(v) for v in record["crc32"]]}
    data = json.dumps(obj, separators=(",", ":")).encode()
    path = os.path.join(folder, MANIFEST)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(folder)
