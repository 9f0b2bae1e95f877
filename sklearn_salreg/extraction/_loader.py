"""Feeding the network: images read ahead in threads, batches by shape, a fast copy
of the network for inference.

:class:`~._extractor.ActivationExtractor` uses three pieces from here:

* :func:`prefetch` reads, resizes and normalises images in background threads
  while the network runs (PIL's decoding and resizing and torch's arithmetic
  release the GIL), and hands them over in order;
* :func:`shape_batches` groups images by resized shape, so that photos of mixed
  sizes still fill batches (no padding: a map never depends on its batch-mates);
* :func:`inference_network` makes the copy of the network that runs: batch norms
  folded into the convolution before them (an eval-mode batch norm is an affine
  map per channel), and channels-last memory, the layout the CPU convolution
  kernels are fastest in. Both change a map by float32 rounding only (the tests
  bound it).

:func:`forward_to` runs that copy up to the chosen layer, optionally under
bfloat16 autocast (``precision="bfloat16"``).
"""

import collections
import copy
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["prefetch", "shape_batches", "inference_network", "forward_to", "PRECISIONS"]

#: The values of ``precision``: the autocast dtype of each (None: no autocast).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def prefetch(func, items, n_threads=1, ahead=4):
    """``func(item)`` for every item, in order, computed ``ahead`` items in advance.

    Parameters
    ----------
    func : callable
        Applied to each item, in a background thread.
    items : iterable
    n_threads : int, default=1
        Threads running ``func``; 0 runs it in the caller's thread when a result is
        asked for (no overlap).
    ahead : int, default=4
        Results computed before they are asked for, at most (bounds the memory held).

    Yields
    ------
    The results, in the order of ``items``. An exception raised by ``func`` is
    raised here, at its item.
    """
    if n_threads <= 0:
        yield from map(func, items)
        return
    with ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="prefetch") as pool:
        pending = collections.deque()
        try:
            for item in items:
                pending.append(pool.submit(func, item))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # an error or a closed generator: drop the rest
                future.cancel()


def shape_batches(items, batch_size, shape_of, max_held=None):
    """Group ``items`` into lists of at most ``batch_size`` items of one shape.

    A batch is emitted when its shape has ``batch_size`` items; when more than
    ``max_held`` items wait in unfinished batches, the fullest one goes out early.
    What remains goes out at the end, fullest first.

    Parameters
    ----------
    items : iterable
    batch_size : int
    shape_of : callable
        The key that items of one batch share (``None`` items are skipped).
    max_held : int, default=None
        Bound on the items waiting; ``4 * batch_size`` by default.

    Yields
    ------
    list
        A batch, its items in their order of arrival.
    """
    max_held = 4 * batch_size if max_held is None else max_held
    waiting = {}
    held = 0
    for item in items:
        if item is None:
            continue
        batch = waiting.setdefault(shape_of(item), [])
        batch.append(item)
        held += 1
        if len(batch) == batch_size:
            held -= len(waiting.pop(shape_of(item)))
            yield batch
        elif held > max_held:
            key = max(waiting, key=lambda k: len(waiting[k]))
            held -= len(waiting[key])
            yield waiting.pop(key)
    for key in sorted(waiting, key=lambda k: -len(waiting[k])):
        yield waiting[key]


def _fold_batch_norms(module):
    """Fold every eval-mode ``BatchNorm2d`` into the ``Conv2d`` run just before it, in
    place, where the two are siblings registered one after the other (the layout of
    torchvision's and our EfficientNet's blocks); the batch norm becomes an identity,
    so that a hook on its name still sees the same map."""
    children = list(module.named_children())
    for (name_a, a), (name_b, b) in zip(children, children[1:]):
        if (isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d)
                and b.track_running_stats and b.running_mean is not None
                and a.out_channels == b.num_features):
            setattr(module, name_a, fuse_conv_bn_eval(a, b))
            setattr(module, name_b, nn.Identity())
    for _, child in module.named_children():
        _fold_batch_norms(child)


def inference_network(model, fold=True, channels_last=True):
    """A copy of ``model`` (in eval mode) arranged for fast inference.

    Parameters
    ----------
    model : torch.nn.Module
        In eval mode; left untouched.
    fold : bool, default=True
        Fold batch norms into the convolutions before them (see
        :func:`_fold_batch_norms`). Only correct for networks that run each such
        convolution straight into its batch norm: done for the built-in
        EfficientNet-Lite0 (its blocks are written so).
    channels_last : bool, default=True
        Keep the weights in channels-last memory: done for the built-in
        EfficientNet-Lite0 (other networks keep their layout, and their maps the
        bits they had).

    Returns
    -------
    network : torch.nn.Module
    channels_last : bool
        Whether it is in channels-last memory (its input should be too).
    """
    from ._efficientnet_lite import EfficientNetLite0

    net = copy.deepcopy(model).eval()
    if not isinstance(net, EfficientNetLite0):
        return net, False
    if fold:
        _fold_batch_norms(net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net, channels_last


def forward_to(forward, batch, precision="float32", channels_last=True, max_pixels=None):
    """``forward(batch)`` with the batch in the network's memory format and precision.

    With ``max_pixels``, the batch runs in passes of at most that many input pixels
    (at least one image each). On a CPU a batch gains no parallelism that one large
    image lacks, while its activations outgrow the caches: the elementwise passes
    between convolutions (ReLU6, residual sums) then cost up to 8 times more per
    image. Small images still share a pass, which saves the per-layer call overhead.

    Parameters
    ----------
    forward : callable
        Runs the network up to the layer; returns its output (n, c, h, w).
    batch : torch.Tensor of shape (n, 3, H, W), float32
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs under torch's autocast to bfloat16 on the batch's device
        (convolutions and products in bfloat16, the rest in float32).
    channels_last : bool, default=True
    max_pixels : int, default=None
        Input pixels per pass, at most; None runs the batch in one pass.

    Returns
    -------
    torch.Tensor, float32, the output after ReLU, (n, h, w, c) and contiguous.
    """
    n, _, h, w = batch.shape
    step = n if max_pixels is None else max(1, max_pixels // (h * w))
    if step < n:
        return torch.cat([forward_to(forward, batch[i:i + step], precision, channels_last)
                          for i in range(0, n, step)])
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    dtype = PRECISIONS[precision]
    with torch.autocast(batch.device.type, dtype=dtype or torch.bfloat16,
                        enabled=dtype is not None):
        out = forward(batch)
    return out.relu().float().permute(0, 2, 3, 1).contiguous()
