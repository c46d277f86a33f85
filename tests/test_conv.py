"""Convolutional networks: conv2d, conv1d, pooling and reshaping, end to end.

The automatic rule tests (test_tensor_rules.py) check each primitive alone
against central differences. Here a whole CNN (conv → relu → maxpool →
flatten → dense → softmax cross-entropy) is compared with a backward pass
written by hand with loops over every output element, on random shapes,
strides, padding, channels and batches; forward mode with reverse mode;
and the bad inputs through the installed command line.
"""

from __future__ import annotations

import json
import random
import time

import numpy as np
import pytest

import chaincli
from chaincli.base.errors import ShapeError

# ----- A CNN by hand: loops over every output element, nothing shared -----


def conv_forward(x, k, stride, padding):
    n, c, h, w = x.shape
    o, _, kh, kw = k.shape
    xp = np.zeros((n, c, h + 2 * padding, w + 2 * padding))
    xp[:, :, padding:padding + h, padding:padding + w] = x
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, ho, wo))
    for b in range(n):
        for q in range(o):
            for y in range(ho):
                for z in range(wo):
                    patch = xp[b, :, y * stride:y * stride + kh, z * stride:z * stride + kw]
                    out[b, q, y, z] = np.sum(patch * k[q])
    return out, xp


def conv_backward(g, xp, k, stride, padding, x_shape):
    o, c, kh, kw = k.shape
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(k)
    for b in range(g.shape[0]):
        for q in range(o):
            for y in range(g.shape[2]):
                for z in range(g.shape[3]):
                    rows = slice(y * stride, y * stride + kh)
                    cols = slice(z * stride, z * stride + kw)
                    dxp[b, :, rows, cols] += g[b, q, y, z] * k[q]
                    dk[q] += g[b, q, y, z] * xp[b, :, rows, cols]
    h, w = x_shape[2:]
    return dxp[:, :, padding:padding + h, padding:padding + w], dk


def maxpool_forward(h, size):
    n, c, hh, ww = h.shape
    out = np.zeros((n, c, hh // size, ww // size))
    where = {}
    for idx in np.ndindex(*out.shape):
        b, q, y, z = idx
        window = h[b, q, y * size:(y + 1) * size, z * size:(z + 1) * size]
        i, j = np.unravel_index(np.argmax(window), window.shape)
        out[idx] = window[i, j]
        where[idx] = (b, q, y * size + i, z * size + j)
    return out, where


def cnn_by_hand(x, k, bias, w, c, t, stride, padding, size):
    """Loss and gradients of -sum(t·logsoftmax(W·flatten(pool(relu(conv + b))) + c))."""
    a, xp = conv_forward(x, k, stride, padding)
    pre = a + bias
    h = np.maximum(pre, 0.0)
    p, where = maxpool_forward(h, size)
    flat = p.reshape(p.shape[0], -1)
    z = flat @ w.T + c
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.sum(t * logp)
    dz = np.exp(logp) * t.sum(axis=1, keepdims=True) - t
    dw = dz.T @ flat
    dc = dz.sum(axis=0)
    dp = (dz @ w).reshape(p.shape)
    dh = np.zeros_like(h)
    for idx, target in where.items():
        dh[target] += dp[idx]
    dpre = dh * (pre > 0)
    dbias = dpre.sum(axis=(0, 2, 3)).reshape(bias.shape)
    dx, dk = conv_backward(dpre, xp, k, stride, padding, x.shape)
    return loss, {"X": dx, "K": dk, "b": dbias, "W": dw, "c": dc}


def random_cnn(rng: random.Random):
    """Shapes that fit: the convolution's output divides by the pooling window."""
    while True:
        stride, padding, size = rng.randint(1, 2), rng.randint(0, 2), rng.randint(1, 2)
        kh, kw = rng.randint(1, 3), rng.randint(1, 3)
        ho, wo = size * rng.randint(1, 2), size * rng.randint(1, 2)
        h = (ho - 1) * stride + kh - 2 * padding + rng.randint(0, stride - 1)
        w = (wo - 1) * stride + kw - 2 * padding + rng.randint(0, stride - 1)
        if h >= 1 and w >= 1:
            break
    n, channels, outputs, classes = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3), 3
    return n, channels, outputs, classes, (h, w), (kh, kw), stride, padding, size


CNN = ("h = relu(conv2d(X, K, {s}, {p}) + b); q = maxpool2d(h, {k}); "
       "z = {dense} + c; -sum(t * logsoftmax(z))")


@pytest.mark.parametrize("seed", range(12))
def test_a_cnn_matches_a_backward_pass_written_by_hand(seed):
    rng = random.Random(f"cnn-{seed}")
    gen = np.random.default_rng(seed)
    n, channels, outputs, classes, (h, w), (kh, kw), stride, padding, size = random_cnn(rng)
    batched = seed % 3 != 0  # every third case an unbatched (C, H, W) image
    x = gen.normal(size=(n, channels, h, w))
    k = gen.normal(size=(outputs, channels, kh, kw))
    bias = gen.normal(size=(outputs, 1, 1))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    features = outputs * (ho // size) * (wo // size)
    wd = gen.normal(size=(classes, features))
    c = gen.normal(size=classes)
    t = np.eye(classes)[gen.integers(0, classes, size=n)]
    if not batched:
        x, t = x[:1], t[:1]
    loss, expected = cnn_by_hand(x, k, bias, wd, c, t, stride, padding, size)
    dense = "flatten(q, 1) @ transpose(W)" if batched else "W @ flatten(q)"
    text = CNN.format(s=stride, p=padding, k=size, dense=dense)
    point = {"X": x if batched else x[0], "K": k, "b": bias, "W": wd, "c": c,
             "t": t if batched else t[0]}
    result = chaincli.compile(text).gradient(point, wrt=["X", "K", "b", "W", "c"])
    assert abs(result.value - loss) <= 1e-10 * max(1.0, abs(loss))
    for name, want in expected.items():
        got = result.gradient[name]
        if name == "X" and not batched:
            want = want[0]
        assert np.shape(got) == np.shape(want), name
        assert np.allclose(got, want, rtol=1e-10, atol=1e-10), (name, seed)


@pytest.mark.parametrize("text, shapes", [
    ("sum(conv2d(X, K, 2, 1) * G)", {"X": (2, 5, 4), "K": (3, 2, 3, 2), "G": (3, 3, 3)}),
    ("sum(conv1d(S, K, 1, 2) * G)", {"S": (2, 2, 4), "K": (2, 2, 3), "G": (2, 2, 6)}),
    ("sum(avgpool2d(X, 2) * G)", {"X": (1, 4, 2), "G": (1, 2, 1)}),
    ("sum(reshape(X, 2, -1) * G)", {"X": (1, 4, 2), "G": (2, 4)}),
])
def test_forward_mode_equals_reverse_mode(text, shapes):
    gen = np.random.default_rng(7)
    point = {name: gen.normal(size=shape) for name, shape in shapes.items()}
    expression = chaincli.compile(text)
    wrt = [name for name in shapes if name != "G"]
    reverse = expression.gradient(point, wrt=wrt)
    forward = expression.gradient(point, wrt=wrt, mode="forward")
    for name in wrt:
        assert np.allclose(forward.gradient[name], reverse.gradient[name],
                           rtol=1e-12, atol=1e-12)


def test_conv2d_is_a_cross_correlation_as_pytorch_defines_it():
    # A kernel with a single 1 in its top-left corner picks the window's
    # top-left element: the kernel is not flipped.
    x = np.arange(9.0).reshape(1, 3, 3)
    k = np.zeros((1, 1, 2, 2))
    k[0, 0, 0, 0] = 1.0
    out = chaincli.compile("conv2d(X, K)").value({"X": x, "K": k})
    assert out.tolist() == [[[0.0, 1.0], [3.0, 4.0]]]
    same = chaincli.compile("conv2d(X, K, 1, 1)").value({"X": x, "K": np.ones((1, 1, 3, 3))})
    assert same.tolist() == [[[8.0, 15.0, 12.0], [21.0, 36.0, 27.0], [20.0, 33.0, 24.0]]]


def test_a_bias_per_channel_broadcasts_over_the_image():
    x, k = np.ones((1, 3, 3)), np.ones((2, 1, 2, 2))
    out = chaincli.compile("conv2d(X, K) + b").value(
        {"X": x, "K": k, "b": np.array([10.0, 20.0]).reshape(2, 1, 1)})
    assert out.shape == (2, 2, 2)
    assert out[0].tolist() == [[14.0, 14.0], [14.0, 14.0]]
    assert out[1].tolist() == [[24.0, 24.0], [24.0, 24.0]]


def test_a_max_pool_tie_is_a_kink_and_the_first_maximum_takes_the_gradient():
    x = np.array([[[1.0, 3.0], [3.0, 0.0]]])
    result = chaincli.compile("sum(maxpool2d(X, 2))").gradient({"X": x})
    assert result.gradient["X"].tolist() == [[[0.0, 1.0], [0.0, 0.0]]]
    kinks = [w for w in result.warnings if w.kind == "kink"]
    assert len(kinks) == 1 and "maximum is tied" in kinks[0].message
    untied = chaincli.compile("sum(maxpool2d(X, 2))").gradient({"X": x + [[[0, 0], [1, 0]]]})
    assert not [w for w in untied.warnings if w.kind == "kink"]
    assert untied.gradient["X"].tolist() == [[[0.0, 0.0], [1.0, 0.0]]]


def test_the_element_by_element_expansion_agrees_with_the_sweeps():
    from chaincli.engine.scalar import evaluate
    from chaincli.engine.scalar.reverse import adjoint_sweep
    from chaincli.engine.tensor.program import shapes_at
    from chaincli.engine.tensor.scalarize import scalarize

    gen = np.random.default_rng(3)
    text = ("q = maxpool2d(relu(conv2d(X, K, 1, 1)), 2); "
            "sum(reshape(avgpool2d(conv2d(q, L), 1), 2, 2) * v) + sum(conv1d(S, M, 2))")
    point = {"X": gen.normal(size=(1, 4, 4)), "K": gen.normal(size=(2, 1, 3, 3)),
             "L": gen.normal(size=(1, 2, 1, 1)), "v": gen.normal(size=(2, 2)),
             "S": gen.normal(size=(1, 5)), "M": gen.normal(size=(1, 1, 2))}
    expression = chaincli.compile(text)
    result = expression.gradient(point)
    tape, flat = scalarize(expression.tape, shapes_at(expression.tape, point), point)
    values = evaluate.primal(tape, flat)
    adjoints = adjoint_sweep(tape, evaluate.local_partials(tape, values))
    assert np.isclose(values[tape.output], result.value, rtol=1e-12)
    for name in expression.variables:
        labels = [v for v in tape.variables if v == name or v.startswith(name + "[")]
        expanded = np.array([adjoints[tape.variable_index[v]] for v in labels])
        np.testing.assert_allclose(expanded, np.ravel(result.gradient[name]), rtol=1e-10,
                                   atol=1e-12)


# ----- The backward-pass table -----

def test_the_backward_table_prints_the_convolution_rules_with_shapes(run, tmp_path):
    gen = np.random.default_rng(0)
    np.savez(tmp_path / "cnn.npz", X=gen.normal(size=(1, 6, 6)),
             K=gen.normal(size=(2, 1, 3, 3)), b=gen.normal(size=(2, 1, 1)),
             W=gen.normal(size=(3, 8)), c=gen.normal(size=3), t=np.array([0.0, 1.0, 0.0]))
    text = ("h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); z = W @ flatten(p) + c; "
            "-sum(t * logsoftmax(z))")
    code, out, err = run("grad", text, "--at", f"@{tmp_path / 'cnn.npz'}", "--wrt",
                         "X,K,b,W", "--explain", "reverse", "-f", "json")
    assert code == 0, err
    rows = {row["node"]: row for row in json.loads(out)["chain"]["nodes"]}
    conv = next(row for row in rows.values() if row["op"] == "conv2d")
    assert conv["shape"] == [2, 4, 4]
    assert f"δX = conv2d_transpose(δ{conv['node']}, K)" in conv["rule"]
    assert f"δK = correlate(X, δ{conv['node']})" in conv["rule"]
    assert rows["p"]["shape"] == [2, 2, 2]
    assert rows["p"]["rule"] == ["δh = δp routed to each window's maximum in h, 0 elsewhere"]
    flat = next(row for row in rows.values() if row["op"] == "flatten")
    assert flat["shape"] == [8] and flat["rule"] == ["δp = reshape(δ" + flat["node"]
                                                     + ", shape of p)"]
    assert all(isinstance(row["shape"], list) for row in rows.values())
    code, table, err = run("grad", text, "--at", f"@{tmp_path / 'cnn.npz'}", "--wrt",
                           "K", "--explain", "reverse", env={"COLUMNS": "150"})
    assert code == 0 and "correlate(X, δ" in table and "(2, 1, 3, 3)" in table
    # At 80 columns a four-axis shape fills its column; the rule column gives way
    # instead of the table being cropped.
    code, table, err = run("grad", text, "--at", f"@{tmp_path / 'cnn.npz'}", "--wrt",
                           "K", "--explain", "reverse", env={"COLUMNS": "80"})
    assert code == 0 and "adjoint arriving ┃" in table
    assert max(len(line) for line in table.splitlines()) <= 80


# ----- Bad input -----

@pytest.mark.parametrize("text, point, words", [
    ("conv2d(X, K)", {"X": (1, 2, 2), "K": (1, 1, 3, 3)},
     "kernels (1, 1, 3, 3) are larger than the input (1, 2, 2)"),
    ("conv2d(X, K, 1, 1)", {"X": (1, 1, 1), "K": (1, 1, 4, 4)},
     "kernels (1, 1, 4, 4) are larger than the input (1, 1, 1) padded by 1"),
    ("conv2d(X, K)", {"X": (3, 5, 5), "K": (2, 1, 3, 3)},
     "input (3, 5, 5) has 3 channels but kernels (2, 1, 3, 3) take 1"),
    ("conv1d(X, K)", {"X": (2, 5), "K": (2, 3, 3)},
     "input (2, 5) has 2 channels but kernels (2, 3, 3) take 3"),
    ("conv2d(X, K)", {"X": (5, 5), "K": (1, 1, 3, 3)},
     "conv2d takes an input of shape (C, H, W) or (N, C, H, W), not (5, 5)"),
    ("conv2d(X, K, 0)", {"X": (1, 5, 5), "K": (1, 1, 3, 3)}, "the stride is a whole number"),
    ("maxpool2d(X, 2)", {"X": (1, 5, 4)}, "window 2 does not divide the image 5×4"),
    ("avgpool2d(X)", {"X": (1, 4, 4)}, "avgpool2d needs its window"),
    ("reshape(X, 4, 4)", {"X": (2, 3)}, "cannot reshape (2, 3) (6 elements) to (4, 4) "
                                        "(16 elements)"),
    ("reshape(X, -1, 4)", {"X": (2, 3)}, "cannot reshape (2, 3) (6 elements) to (-1, 4)"),
    ("flatten(X, 3)", {"X": (2, 3)}, "axis 3 is out of range"),
])
def test_bad_shapes_are_usage_errors_with_a_caret(text, point, words):
    with pytest.raises(ShapeError) as caught:
        chaincli.compile(text).value({name: np.zeros(shape) for name, shape in point.items()})
    assert words in caught.value.message and caught.value.exit_status == 2
    assert "^" in caught.value.context()


def test_bad_convolutions_exit_2_through_the_command_line(run):
    code, out, err = run("eval", "sum(conv2d(X, K))", "--at",
                         "X=[[[1,2],[3,4]]],K=[[[[1,1,1],[1,1,1],[1,1,1]]]]")
    assert code == 2 and out == ""
    assert err.startswith("Error: conv2d(X, K): kernels (1, 1, 3, 3) are larger than the "
                          "input (1, 2, 2)") and "^" in err and "Traceback" not in err
    code, out, err = run("eval", "sum(reshape(X, 3))", "--at", "X=[[1,2],[3,4]]")
    assert code == 2 and out == "" and "cannot reshape (2, 2) (4 elements) to (3,)" in err
    code, out, err = run("eval", "sum(conv2d(X, K, s))", "--at", "X=[[[1]]],K=[[[[1]]]],s=1")
    assert code == 2 and out == "" and "whole-number literal" in err


def test_a_huge_padding_or_window_is_refused_before_anything_is_allocated(run):
    start = time.monotonic()
    code, out, err = run("eval", "sum(conv2d(X, K, 1, 1000000000))", "--at",
                         "X=[[[1]]],K=[[[[1]]]]", timeout=20)
    assert code == 2 and out == "" and "more than 100,000,000" in err
    with pytest.raises(ShapeError, match="unfold to"):
        chaincli.compile("sum(conv2d(X, K))").value(
            {"X": np.zeros((1, 1, 1000, 1000)),
             "K": np.broadcast_to(np.zeros(1), (1, 1, 500, 500))})
    assert time.monotonic() - start < 15


# ----- Training -----

DIGITS_CNN = ("h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); z = flatten(p, 1) @ W + c; "
              "-mean(sum(T * logsoftmax(z), 1))")


def test_minimize_trains_a_cnn_on_the_digits_to_95_percent(run, tmp_path):
    """scikit-learn's 8×8 digits, a fixed split; full-batch Adam from --seed 0."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    images = digits.images[:, None] / 16.0
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    np.savez(tmp_path / "train.npz", X=train_x, T=np.eye(10)[train_y])
    fit = tmp_path / "fit.npz"
    code, out, err = run("minimize", DIGITS_CNN, "--at", f"@{tmp_path / 'train.npz'}",
                         "--wrt", "K,b,W,c", "--init", "K=8x1x3x3,b=8x1x1,W=72x10,c=10",
                         "--seed", "0", "--method", "adam", "--lr", "0.03", "--steps", "200",
                         "--out", str(fit), "--json", timeout=300)
    assert code == 0, err
    assert json.loads(out)["loss"] < 0.2
    with np.load(fit, allow_pickle=False) as saved:
        logits = chaincli.compile("h = relu(conv2d(X, K) + b); flatten(maxpool2d(h, 2), 1) "
                                  "@ W + c").value({"X": test_x, **saved})
    assert logits.shape == (len(test_y), 10)
    assert np.mean(np.argmax(logits, axis=1) == test_y) >= 0.95
