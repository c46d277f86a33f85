"""The primitive table's convolution family: conv1d, conv2d, pooling, reshaping.

Like the tensor family (``tensor.py``), each entry carries its own shape
rule, VJP, JVP and printed VJP formulas, on the record of ``base``. The
layout is PyTorch's: a signal is (C, L) or a batch (N, C, L), an image
(C, H, W) or (N, C, H, W), and kernels are (O, C, k) or (O, C, kh, kw).
A convolution is a cross-correlation, as every framework defines it (the
kernel is not flipped):

    out[n, o, y, x] = Σ_c Σ_i Σ_j X[n, c, s·y + i, s·x + j] · K[o, c, i, j]

over the input padded with ``padding`` zeros on every side, with stride
``s``. Its value is im2col: ``sliding_window_view`` unfolds the windows (a
view, no copy) and one ``tensordot`` contracts them with the kernels; the
input's adjoint scatters ``δ`` back through the kernel with one vectorised
add per kernel element (never a loop over pixels), which is the full
correlation of ``δ`` with the flipped kernel, and the kernel's adjoint is the
correlation of the input's windows with ``δ``.

Pooling takes windows of k × k with stride k. A window that does not divide
the image is refused by the shape rule (PyTorch drops the rows left over;
here nothing is dropped silently). A max-pool's adjoint goes to each
window's maximum; where a window's maximum is tied, the first one in
row-major order takes it, as PyTorch does, and the tie is reported as a kink.

The shape rules also bound the unfolded windows (``UNFOLD_LIMIT`` elements),
so a convolution the sweeps could not afford is refused before any array
is built. The value functions use only NumPy operations that also work on
object arrays, so the element-by-element expansion (``scalarize``) runs them.
"""

from __future__ import annotations

from itertools import product

from .base import Primitive, ShapeProblem, np

# The unfolded windows of one convolution (its im2col matrix) hold at most
# this many elements (800 MB of doubles); a larger one is refused.
UNFOLD_LIMIT = 100_000_000

# reshape takes at most this many sizes.
MAX_RESHAPE_AXES = 8


def _text(shape) -> str:
    return str(tuple(shape))


def _size(shape) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


# ----- Convolution -----

def _conv_options(options):
    stride = options[0] if len(options) > 0 else 1
    padding = options[1] if len(options) > 1 else 0
    return stride, padding


def _conv_shape(nd: int, name: str):
    layout = "(C, L) or (N, C, L)" if nd == 1 else "(C, H, W) or (N, C, H, W)"
    kernel = "(O, C, k)" if nd == 1 else "(O, C, kh, kw)"

    def shape(shapes, options):
        x, k = shapes
        stride, padding = _conv_options(options)
        if len(x) not in (nd + 1, nd + 2):
            raise ShapeProblem(f"{name} takes an input of shape {layout}, not {_text(x)}")
        if len(k) != nd + 2:
            raise ShapeProblem(f"{name} takes kernels of shape {kernel}, not {_text(k)}")
        if stride < 1:
            raise ShapeProblem(f"{name}: the stride is a whole number from 1, not {stride}")
        if padding < 0:
            raise ShapeProblem(f"{name}: the padding is a whole number from 0, not {padding}")
        if x[-nd - 1] != k[1]:
            raise ShapeProblem(f"input {_text(x)} has {x[-nd - 1]} channels but kernels "
                               f"{_text(k)} take {k[1]}")
        spatial = []
        for size, width in zip(x[-nd:], k[2:]):
            if size + 2 * padding < width:
                raise ShapeProblem(f"kernels {_text(k)} are larger than the input {_text(x)}"
                                   + (f" padded by {padding}" if padding else ""))
            spatial.append((size + 2 * padding - width) // stride + 1)
        batch = x[:-nd - 1]
        unfolded = _size(batch) * k[1] * _size(spatial) * _size(k[2:])
        padded = _size(batch) * k[1] * _size(n + 2 * padding for n in x[-nd:])
        if max(unfolded, padded) > UNFOLD_LIMIT:
            raise ShapeProblem(f"input {_text(x)} and kernels {_text(k)} unfold to "
                               f"{max(unfolded, padded):,} elements, more than "
                               f"{UNFOLD_LIMIT:,}")
        return (*batch, k[0], *spatial)
    return shape


def _pad(x, nd, padding):
    if not padding:
        return x
    widths = [(0, 0)] * (x.ndim - nd) + [(padding, padding)] * nd
    return np.pad(x, widths, mode="constant", constant_values=0.0)


def _windows(x, kernel_size, nd, stride):
    """(N, C, *out, *kernel) windows of a padded batch, as a strided view."""
    axes = tuple(range(2, 2 + nd))
    view = np.lib.stride_tricks.sliding_window_view(x, kernel_size, axis=axes)
    return view[(slice(None), slice(None)) + (slice(None, None, stride),) * nd]


def _batched(x, nd):
    return x if x.ndim == nd + 2 else x[None]


def _conv(nd: int):
    def value(args, options):
        x, k = args
        stride, padding = _conv_options(options)
        xb = _pad(_batched(x, nd), nd, padding)
        win = _windows(xb, k.shape[2:], nd, stride)  # (N, C, *out, *kernel)
        # Contract channels and kernel positions: (N, *out, O).
        out = np.tensordot(win, k, axes=([1, *range(2 + nd, 2 + 2 * nd)],
                                         [1, *range(2, 2 + nd)]))
        out = np.moveaxis(out, -1, 1)
        return out if x.ndim == nd + 2 else out[0]
    return value


def _conv_input_adjoint(g, x_shape, k, nd, stride, padding):
    """Each output's δ spread back over its window, weighted by the kernel."""
    gb = _batched(g, nd)
    batched_shape = x_shape if len(x_shape) == nd + 2 else (1, *x_shape)
    padded = np.zeros(batched_shape[:2] + tuple(n + 2 * padding for n in batched_shape[2:]))
    # (N, *out, C, *kernel): every output's δ times every kernel weight.
    spread = np.tensordot(np.moveaxis(gb, 1, -1), k, axes=([-1], [0]))
    out_size = gb.shape[2:]
    for offset in product(*(range(w) for w in k.shape[2:])):
        target = (slice(None), slice(None)) + tuple(
            slice(i, i + stride * (n - 1) + 1, stride) for i, n in zip(offset, out_size))
        part = spread[(slice(None),) + (slice(None),) * nd + (slice(None),) + offset]
        padded[target] += np.moveaxis(part, -1, 1)
    if padding:
        padded = padded[(slice(None), slice(None))
                        + (slice(padding, -padding),) * nd]
    return padded if len(x_shape) == nd + 2 else padded[0]


def _conv_kernel_adjoint(g, x, k_shape, nd, stride, padding):
    """The correlation of the input's windows with δ: (O, C, *kernel)."""
    gb = _batched(g, nd)
    win = _windows(_pad(_batched(x, nd), nd, padding), k_shape[2:], nd, stride)
    batch_and_out = [0, *range(2, 2 + nd)]
    return np.tensordot(gb, win, axes=(batch_and_out, batch_and_out))


def _conv_vjp(nd: int):
    def vjp(g, args, out, options, wanted=(True, True)):
        x, k = args
        stride, padding = _conv_options(options)
        g = np.asarray(g, dtype=float)
        want_x, want_k = wanted
        return ((_conv_input_adjoint(g, x.shape, k, nd, stride, padding) if want_x else None),
                (_conv_kernel_adjoint(g, x, k.shape, nd, stride, padding) if want_k
                 else None))
    return vjp


def _conv_jvp(nd: int):
    value = _conv(nd)

    def jvp(tangents, args, out, options):
        (tx, tk), (x, k) = tangents, args
        total = None
        if tx is not None:
            total = value((tx, k), options)
        if tk is not None:
            term = value((x, tk), options)
            total = term if total is None else total + term
        return total
    return jvp


def _conv_formulas(name):
    return lambda ranks: (f"{name}_transpose(δ, b)", "correlate(a, δ)")


def _sample_conv(nd: int):
    def sample(rng):
        stride, padding = rng.randint(1, 2), rng.randint(0, 1)
        channels, outputs = rng.randint(1, 2), rng.randint(1, 2)
        kernel = tuple(rng.randint(1, 3) for _ in range(nd))
        spatial = tuple(rng.randint(max(1, w - 2 * padding), w + 3) for w in kernel)
        batch = (rng.randint(1, 2),) if rng.random() < 0.5 else ()
        options = (stride, padding) if padding or rng.random() < 0.5 else (stride,)
        return ([(*batch, channels, *spatial), (outputs, channels, *kernel)], options)
    return sample


# ----- Pooling -----

def _pool_shape(name: str):
    def shape(shapes, options):
        x = shapes[0]
        if not options:
            raise ShapeProblem(f"{name} needs its window: {name}(X, k)")
        k = options[0]
        if len(x) not in (3, 4):
            raise ShapeProblem(f"{name} takes an input of shape (C, H, W) or (N, C, H, W), "
                               f"not {_text(x)}")
        if k < 1:
            raise ShapeProblem(f"{name}: the window is a whole number from 1, not {k}")
        if x[-2] % k or x[-1] % k:
            raise ShapeProblem(f"window {k} does not divide the image {x[-2]}×{x[-1]} "
                               f"of input {_text(x)}")
        return (*x[:-2], x[-2] // k, x[-1] // k)
    return shape


def _blocks(x, k):
    """(…, H/k, W/k, k·k): each window's elements along the last axis, row-major."""
    *lead, h, w = x.shape
    blocks = x.reshape(*lead, h // k, k, w // k, k)
    blocks = np.moveaxis(blocks, -3, -2)
    return blocks.reshape(*lead, h // k, w // k, k * k)


def _unblocks(blocks, shape, k):
    *lead, h, w = shape
    grid = blocks.reshape(*lead, h // k, w // k, k, k)
    return np.moveaxis(grid, -2, -3).reshape(shape)


def _grid(x, k):
    """(…, H/k, k, W/k, k): the windows as axes -3 and -1, a view without a copy."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // k, k, w // k, k)


def _maxpool(args, options):
    return np.max(_grid(args[0], options[0]), axis=(-3, -1))


def _first_maximum(x, k):
    return np.argmax(_blocks(x, k), axis=-1)


def _maxpool_vjp(g, args, out, options, wanted=(True,)):
    x, k = args[0], options[0]
    first = _first_maximum(x, k)
    spread = np.zeros(first.shape + (k * k,))
    np.put_along_axis(spread, first[..., None], np.asarray(g, dtype=float)[..., None], -1)
    return (_unblocks(spread, x.shape, k),)


def _maxpool_jvp(tangents, args, out, options):
    x, k = args[0], options[0]
    first = _first_maximum(x, k)
    return np.take_along_axis(_blocks(tangents[0], k), first[..., None], -1)[..., 0]


def _maxpool_kink(x, k=None) -> str | None:
    if k is None or np.ndim(x) not in (3, 4):
        return None
    grid = _grid(x, k)
    top = np.max(grid, axis=(-3, -1), keepdims=True)
    ties = np.count_nonzero(grid == top, axis=(-3, -1)) > 1
    if not ties.any():
        return None
    where = tuple(int(i) for i in np.argwhere(ties)[0])
    more = int(ties.sum()) - 1
    return ("a pooling window's maximum is tied; the first of them (row-major) takes its "
            f"gradient (window [{', '.join(map(str, where))}]"
            + (f" and {more} more" if more else "") + ")")


def _avgpool(args, options):
    k = options[0]
    return np.sum(_grid(args[0], k), axis=(-3, -1)) / float(k * k)


def _avgpool_vjp(g, args, out, options, wanted=(True,)):
    x, k = args[0], options[0]
    g = np.asarray(g, dtype=float) / float(k * k)
    return (_unblocks(np.broadcast_to(g[..., None], g.shape + (k * k,)), x.shape, k),)


def _avgpool_jvp(tangents, args, out, options):
    return _avgpool(tangents, options)


def _sample_pool(rng):
    k = rng.randint(1, 2)
    batch = (rng.randint(1, 2),) if rng.random() < 0.5 else ()
    return ([(*batch, rng.randint(1, 2), k * rng.randint(1, 2), k * rng.randint(1, 3))], (k,))


# ----- Reshaping -----

def _reshape_shape(shapes, options):
    a = shapes[0]
    if not options:
        raise ShapeProblem("reshape needs the new shape: reshape(A, d1, d2, …)")
    if sum(1 for d in options if d == -1) > 1 or any(d < -1 for d in options):
        raise ShapeProblem("the sizes of a reshape are whole numbers, with at most one -1 "
                           "for the size left over")
    known = _size(d for d in options if d != -1)
    if -1 in options:
        if known == 0 or _size(a) % known:
            raise ShapeProblem(f"cannot reshape {_text(a)} ({_size(a):,} elements) to "
                               f"{_text(options)}")
        return tuple(_size(a) // known if d == -1 else d for d in options)
    if known != _size(a):
        raise ShapeProblem(f"cannot reshape {_text(a)} ({_size(a):,} elements) to "
                           f"{_text(options)} ({known:,} elements)")
    return tuple(options)


def _reshape(args, options):
    return np.reshape(args[0], tuple(options))


def _back_to_shape(g, args, out, options, wanted=(True,)):
    return (np.reshape(np.asarray(g, dtype=float), np.shape(args[0])),)


def _reshape_jvp(tangents, args, out, options):
    return np.reshape(tangents[0], np.shape(out))


def _flatten_axis(shape, options):
    axis = options[0] if options else 0
    ndim = max(len(shape), 1)
    if not -ndim <= axis < ndim:
        raise ShapeProblem(f"axis {axis} is out of range for an array of shape {_text(shape)}")
    return axis % ndim


def _flatten_shape(shapes, options):
    a = shapes[0]
    if not a:
        raise ShapeProblem("flatten takes an array, not a scalar")
    axis = _flatten_axis(a, options)
    return (*a[:axis], _size(a[axis:]))


def _flatten(args, options):
    a = args[0]
    return np.reshape(a, _flatten_shape((np.shape(a),), options))


def _sample_reshape(rng):
    a = tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 3)))
    sizes = [_size(a)]
    if sizes[0] % 2 == 0 and rng.random() < 0.5:
        sizes = [2, sizes[0] // 2]
    if rng.random() < 0.3:
        sizes[0] = -1
    return ([a], tuple(sizes))


def _sample_flatten(rng):
    a = tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 4)))
    options = (rng.randint(-len(a), len(a) - 1),) if rng.random() < 0.7 else ()
    return ([a], options)


def _entry(name, arity, value, shape, vjp, jvp, formulas, latex, description,
           **extra) -> Primitive:
    return Primitive(name, arity, value, (), (), latex, elementwise=False, shape=shape,
                     vjp=vjp, jvp=jvp, vjp_formulas=formulas, description=description,
                     **extra)


CONV_TABLE: list[Primitive] = [
    _entry("conv2d", 2, _conv(2), _conv_shape(2, "conv2d"), _conv_vjp(2), _conv_jvp(2),
           _conv_formulas("conv2d"), r"{a} \star {b}",
           "2-D convolution (cross-correlation) of (C,H,W) or (N,C,H,W) with kernels "
           "(O,C,kh,kw)", options=("stride", "padding"), sample_shapes=_sample_conv(2)),
    _entry("conv1d", 2, _conv(1), _conv_shape(1, "conv1d"), _conv_vjp(1), _conv_jvp(1),
           _conv_formulas("conv1d"), r"{a} \star {b}",
           "1-D convolution (cross-correlation) of (C,L) or (N,C,L) with kernels (O,C,k)",
           options=("stride", "padding"), sample_shapes=_sample_conv(1)),
    _entry("maxpool2d", 1, _maxpool, _pool_shape("maxpool2d"), _maxpool_vjp, _maxpool_jvp,
           lambda ranks: ("δ routed to each window's maximum in a, 0 elsewhere",),
           r"\operatorname{{maxpool}}\left({a}\right)",
           "maximum of each k×k window (stride k)", options=("k",), kink=_maxpool_kink,
           sample_shapes=_sample_pool),
    _entry("avgpool2d", 1, _avgpool, _pool_shape("avgpool2d"), _avgpool_vjp, _avgpool_jvp,
           lambda ranks: ("δ/k² copied over each window of a",),
           r"\operatorname{{avgpool}}\left({a}\right)",
           "mean of each k×k window (stride k)", options=("k",),
           sample_shapes=_sample_pool),
    _entry("reshape", 1, _reshape, _reshape_shape, _back_to_shape, _reshape_jvp,
           lambda ranks: ("reshape(δ, shape of a)",), r"{a}",
           "the same elements in a new shape (row-major); one size may be -1",
           options=tuple(f"d{k}" for k in range(1, MAX_RESHAPE_AXES + 1)),
           sample_shapes=_sample_reshape),
    _entry("flatten", 1, _flatten, _flatten_shape, _back_to_shape, _reshape_jvp,
           lambda ranks: ("reshape(δ, shape of a)",), r"{a}",
           "the axes from from_axis (default 0) joined into one", options=("from_axis",),
           sample_shapes=_sample_flatten),
]
