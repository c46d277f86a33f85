"""Build the worked examples in docs/examples from the installed chaincli.

Each entry of ``EXAMPLES`` is one page: its commands are run through the
installed ``chaincli`` console script, as a user would type them, and the page
shows each command with its real output, the entry's two sentences on what it
shows, and any text written by hand. A page may also show Python scripts that
make its data files: they are written into the folder its commands run in and
run there (``python3 NAME``) with this interpreter, so the data a page trains
on is the data its script made. ``README.md`` in this folder indexes the
pages. Adding an example is adding one entry and running::

    python3 -m pip install . && python3 docs/examples/build.py

``--check`` writes nothing and exits 1 when a page differs in any byte from
what chaincli prints now; ``tests/test_gallery.py`` makes the same comparison
with the numbers to a tolerance, as another CPU may round their last bits
differently.

The output is made deterministic: 80 columns, no colour, UTF-8, whatever the
terminal or locale the build runs in; trailing blanks (Rich pads centred table
titles) are dropped from every line. A command that fails, writes to stderr
anything but the warnings its page declares, or prints a path of the machine it
ran on stops the build. A declared warning is shown above the command's output,
where a terminal shows it (chaincli writes its warnings before the result),
filled to the page width as a terminal would wrap it.

This script imports nothing of chaincli: it only runs the console script (and
a page's own scripts).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH = 80
MARKER = "<!-- Made by build.py from the installed chaincli: edit EXAMPLES there. -->"
REGENERATE = "python3 -m pip install . && python3 docs/examples/build.py"

# Environment variables through which a caller's terminal could reach the output.
_COLOUR_AND_SIZE = ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE",
                    "COLORTERM", "JUPYTER_COLUMNS", "JUPYTER_LINES", "CHAINCLI_DEBUG",
                    "PYTHONWARNINGS")


@dataclass(frozen=True)
class Script:
    """A Python script a page shows under its name and runs as ``python3 NAME``."""

    name: str
    text: str


@dataclass(frozen=True)
class Example:
    """One page of the gallery.

    ``commands`` are shell command lines starting with ``chaincli``, or
    ``python3 NAME`` for one of the page's ``scripts``, shown as written; a
    backslash at the end of a line continues it, as in a shell. ``summary`` is
    two sentences on what the example shows; ``before`` is Markdown written by
    hand, placed before the scripts, and ``extra`` after the outputs.
    ``warns`` are the beginnings of the stderr lines the commands may write
    (``Warning: maxpool2d(h, 2): …``); each is shown with the command.
    """

    slug: str
    title: str
    commands: tuple[str, ...]
    summary: str
    extra: str = ""
    before: str = ""
    scripts: tuple[Script, ...] = ()
    warns: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return f"{self.slug}.md"


EXAMPLES: list[Example] = [
    Example(
        slug="three-gears",
        title="Three gears: rates multiply along a chain",
        commands=(
            'chaincli grad "b = 2*c; a = 3*b; a" --at c=1',
            'chaincli diff "b = 2*c; a = 3*b; a" --wrt c',
        ),
        summary=(
            "Gear `a` turns 3 times as fast as gear `b`, and `b` twice as fast as `c`, "
            "so the one path from the output (`a`, called `f` in the tables) down to `c` "
            "multiplies the local rates `∂f/∂b = 3` and `∂b/∂c = 2` into `da/dc = 6`. "
            "`diff` gives the same rate as a formula, the constant 6: a chain of linear "
            "steps has the same rate at every point."
        ),
    ),
    Example(
        slug="composite",
        title="A composite function: sin(x^2)",
        commands=(
            'chaincli grad "sin(x^2)" --at x=1.5',
            'chaincli diff "sin(x^2)" --wrt x',
        ),
        summary=(
            "The path from `f = sin(v2)` down to `x` passes the inner node `v2 = x^2`: "
            "the outer derivative is taken at the inner value, `cos(2.25) = -0.62817`, "
            "and multiplied by the inner derivative `2*x = 3`, giving -1.8845. "
            "`diff` writes the same product as a formula, `2*(cos(x^2)*x)`."
        ),
    ),
    Example(
        slug="two-paths",
        title="Two paths to one variable: sin(x*y) + cos(x*y)",
        commands=(
            'chaincli grad "sin(x*y) + cos(x*y)" --at x=1,y=2',
            'chaincli diff "sin(x*y) + cos(x*y)" --wrt x',
        ),
        summary=(
            "`x` reaches the output through `sin` and through `cos`, both by way of the "
            "one shared node `v2 = x*y`, so ∂f/∂x has two paths, and the multivariable "
            "chain rule adds their products: `-0.83229 + -1.8186 = -2.6509`. "
            "`diff` shows the same sum, one term per path, with `x*y` bound once "
            "as `u1`."
        ),
    ),
    Example(
        slug="neuron",
        title="One neuron: a sigmoid and a squared error",
        commands=(
            'chaincli grad "z = w1*x1 + w2*x2 + b; p = sigmoid(z); (p - t)^2" \\\n'
            '    --at w1=0.5,w2=-0.4,b=0.1,x1=2,x2=3,t=1 --wrt w1,w2,b --explain reverse',
        ),
        summary=(
            "A neuron `p = sigmoid(w1*x1 + w2*x2 + b)` is scored by the squared error "
            "`(p - t)^2` against its target `t`, and one reverse sweep passes the error "
            "down from the loss, through the sigmoid, to both weights and the bias. "
            "The same numbers come out by hand below, step by step, as backpropagation "
            "is taught."
        ),
        extra=textwrap.dedent("""\
            ## By hand

            The input `x1 = 2`, `x2 = 3` and the target `t = 1` are data; the parameters
            are `w1 = 0.5`, `w2 = -0.4` and `b = 0.1`. Forward, to the loss:

            ```text
            z = w1*x1 + w2*x2 + b  = 1 - 1.2 + 0.1         = -0.1
            p = sigmoid(z)         = 1/(1 + e^0.1)         = 0.47502
            p - t                                          = -0.52498
            f = (p - t)^2                                  = 0.2756
            ```

            Backward, from `δf = 1`, each adjoint `δv = ∂f/∂v` being the one above it
            times a local derivative:

            ```text
            δp     = 2*(p - t)                             = -1.05
            p*(1 - p)   (the sigmoid's derivative at z)    = 0.24938
            δz     = δp * p*(1 - p)  = -1.05 * 0.24938     = -0.26183
            ∂f/∂w1 = δz * x1         = -0.26183 * 2        = -0.52367
            ∂f/∂w2 = δz * x2         = -0.26183 * 3        = -0.7855
            ∂f/∂b  = δz * 1                                = -0.26183
            ```

            These are the adjoints of `p`, `z`, `w1`, `w2` and `b` in the reverse sweep
            above, and the gradient chaincli prints to full precision. The gallery's
            test computes this derivation from its formulas and checks it against
            `chaincli grad --json` to 1e-12.
            """),
    ),
    Example(
        slug="forward-and-reverse",
        title="Forward and reverse mode: ln(x1) + x1*x2 - sin(x2)",
        commands=(
            'chaincli grad "ln(x1) + x1*x2 - sin(x2)" --at x1=2,x2=5 \\\n'
            '    --mode forward --explain forward',
            'chaincli grad "ln(x1) + x1*x2 - sin(x2)" --at x1=2,x2=5 --explain reverse',
        ),
        summary=(
            "Forward mode carries tangents up from the inputs, one sweep per input: the "
            "sweep seeded at `x1` ends with `∂f/∂x1 = 5.5` and the one seeded at `x2` with "
            "`∂f/∂x2 = 1.7163`. Reverse mode carries adjoints down from the output, and "
            "its one sweep leaves every partial at the inputs at once, which is why a "
            "loss of many parameters is differentiated in reverse."
        ),
        extra=textwrap.dedent("""\
            ## Side by side

            | | forward (tangents) | reverse (adjoints) |
            |---|---|---|
            | a sweep starts at | one input, seeded with 1 | the output, seeded with 1 |
            | each entry holds | ∂v/∂(that input) | ∂f/∂v |
            | sweeps for the gradient | one per input (here 2) | one (here 1) |
            | one sweep gives | one partial (sweep 1: ∂f/∂x1) | all: ∂f/∂x1 and ∂f/∂x2 |

            Both traces list the same entries with the same local partials; they differ
            only in the direction the products are accumulated.
            """),
    ),
    Example(
        slug="two-layer-network",
        title="A two-layer network: the backward pass by layer",
        commands=(
            'chaincli grad "h = tanh(W1@x + b1); p = softmax(W2@h + b2); -sum(t*log(p))" \\\n'
            '    --at W1=[[0.5,-0.3],[0.2,0.8],[-0.6,0.1]],b1=[0.1,0,-0.1] \\\n'
            '    --at W2=[[0.3,-0.2,0.5],[-0.4,0.6,0.1]],b2=[0,0.1],x=[1,-2],t=[0,1] \\\n'
            '    --wrt W1,b1,W2,b2',
            'chaincli check "h = tanh(W1@x + b1); p = softmax(W2@h + b2); -sum(t*log(p))" \\\n'
            '    --at W1=[[0.5,-0.3],[0.2,0.8],[-0.6,0.1]],b1=[0.1,0,-0.1] \\\n'
            '    --at W2=[[0.3,-0.2,0.5],[-0.4,0.6,0.1]],b2=[0,0.1],x=[1,-2],t=[0,1]',
        ),
        summary=(
            "The error signal starts at the loss as 1 and flows down the table: through "
            "each activation it is multiplied elementwise by the activation's derivative "
            "(`δv4 = δh ⊙ (1 - h^2)`), through each weight matrix by its transpose "
            "(`δh = transpose(W2) @ δv7`), and at each weight matrix the gradient is the "
            "outer product of the signal arriving and the layer's input "
            "(`δW1 = outer(δv2, x)`). `check` then compares every element of every gradient "
            "with central finite differences: the gradient check of neural-network practice."
        ),
    ),
    Example(
        slug="xor",
        title="Training a network: XOR by gradient descent",
        commands=(
            'chaincli minimize "H = tanh(X @ W1 + b1); z = H @ w2 + b2; mean((z - t)^2)" \\\n'
            '    --at "X=[[0,0],[0,1],[1,0],[1,1]],t=[0,1,1,0]" --wrt W1,b1,w2,b2 \\\n'
            '    --init W1=2x3,b1=3,w2=3,b2=scalar --seed 0 --method adam --lr 0.05 \\\n'
            '    --plot --out xor.npz',
            'chaincli eval "H = tanh(X @ W1 + b1); H @ w2 + b2" \\\n'
            '    --at @xor.npz --at "X=[[0,0],[0,1],[1,0],[1,1]]" --format plain',
        ),
        summary=(
            "A 2-3-1 network (a tanh hidden layer, a linear output) starts from random "
            "weights drawn with `--seed 0` and follows Adam down its squared error on the "
            "four XOR points: each step is one reverse sweep for the gradient of every "
            "weight, then the update. The loss falls from about 0.5 below 1e-16 (the "
            "log-scale curve), and the trained weights, written to `xor.npz` and read back "
            "with `--at @xor.npz`, give the outputs 0, 1, 1, 0 to within rounding."
        ),
    ),
    Example(
        slug="derivation",
        title="A derivation, rule by rule: diff --steps",
        commands=(
            'chaincli diff "u = x*y; sin(u) + u^2" --wrt x --steps --at x=1,y=2',
        ),
        summary=(
            "Each line replaces one pending `d/dx(…)` by what the rule for its operation "
            "gives and names that rule; the let-bound `u = x*y` is derived once, in its own "
            "part (`d/dx(u) = y`), and referred to after that. The last line of the "
            "derivation is exactly what `diff` prints, and the value line under it is the "
            "same number `grad … --at x=1,y=2` gives for ∂f/∂x."
        ),
    ),
    Example(
        slug="cnn",
        title="A convolutional network: the backward pass of a convolution",
        commands=(
            'chaincli grad "h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); \\\n'
            '    z = W @ flatten(p); -sum(t * logsoftmax(z))" \\\n'
            '    --at "X=[[[3,2,0,3,2,0],[1,0,2,2,0,0],[1,0,2,3,2,3], \\\n'
            '           [3,1,1,1,0,1],[2,1,3,2,2,2],[3,1,2,2,3,2]]]" \\\n'
            '    --at "K=[[[[1,0,-1],[1,0,-1],[1,0,-1]]]],b=[[[1]]]" \\\n'
            '    --at "W=[[0.1,0,0,0.1],[0,0.1,0.1,0]],t=[0,1]" --wrt K,b,W --explain reverse',
            'chaincli check "h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); \\\n'
            '    z = W @ flatten(p); -sum(t * logsoftmax(z))" \\\n'
            '    --at "X=[[[3,2,0,3,2,0],[1,0,2,2,0,0],[1,0,2,3,2,3], \\\n'
            '           [3,1,1,1,0,1],[2,1,3,2,2,2],[3,1,2,2,3,2]]]" \\\n'
            '    --at "K=[[[[1,0,-1],[1,0,-1],[1,0,-1]]]],b=[[[1]]]" \\\n'
            '    --at "W=[[0.1,0,0,0.1],[0,0.1,0.1,0]],t=[0,1]"',
        ),
        summary=(
            "One 1×6×6 image, one 3×3 kernel (a vertical-edge detector) and a bias make a "
            "4×4 feature map; relu, a 2×2 max-pool and a dense layer to two classes follow, "
            "scored by softmax cross-entropy. The table shows the convolution's two rules: "
            "the kernel's gradient is the correlation of the input with the error signal "
            "(`δK = correlate(X, δv2)`), the max-pool sends each window's error to its "
            "maximum, and `check` then compares every element of every gradient, the image's "
            "too, with central differences."
        ),
        extra=textwrap.dedent("""\
            ## By hand

            Forward: each element of `conv2d(X, K)` is the sum of a 3×3 window of `X`
            times `K` (cross-correlation: the kernel is not flipped), so with this kernel
            it is the window's left column minus its right column. The top-left one is
            `(3 + 1 + 1) - (0 + 2 + 2) = 1`; plus the bias, 2. The whole map plus the bias,
            then the max of each 2×2 window after relu:

            ```text
            conv2d(X, K) + b     relu, max-pooled     flatten(p)
             2  -5   1   6         2   6             [2, 6, 3, 3]
             1  -4   4   3         3   3
             1  -3   3   1                          z = W @ flatten(p) = [0.5, 0.9]
             3  -1   2   1
            ```

            Backward: `δz = softmax(z) - t = [0.40131, -0.40131]`, and
            `δp = transpose(W) @ δz = [0.040131, -0.040131, -0.040131, 0.040131]`. The
            max-pool routes each of these to its window's maximum (the 2 at [0, 0], the 6
            at [0, 3], the 3 at [3, 0] and the 3 at [2, 2] of the map) and zero elsewhere;
            relu passes them (each maximum is positive). So `δ` at the convolution's output
            has four non-zero elements, and the kernel's gradient
            `δK[i, j] = Σ δ[y, x] · X[y + i, x + j]` is four windows of `X` weighted by
            them: `δK[0, 0] = 0.040131·(X[0,0] - X[0,3] - X[3,0] + X[2,2])
            = 0.040131·(3 - 3 - 3 + 2) = -0.040131`, the first element of `∂f/∂K` above.
            The bias gets the sum of `δ`, `0.040131·(1 - 1 - 1 + 1) = 0` (2.8e-17 above: the
            rounding of the four terms). Had the image's
            gradient been asked for, its rule would read `δX = conv2d_transpose(δv2, K)`:
            each output's error spread back over its window, weighted by the kernel,
            which is the full correlation of `δ` with the flipped kernel.
            """),
    ),
    Example(
        slug="digits",
        title="A CNN on handwritten digits, trained with minimize",
        summary=(
            "scikit-learn's 8×8 handwritten digits train a small convolutional network "
            "(8 kernels 3×3, relu, a 2×2 max-pool, a dense layer to the ten classes, softmax "
            "cross-entropy) by 200 full-batch Adam steps from random weights drawn with "
            "`--seed 0`: the loss on the 1,347 training images falls from about 7 to "
            "0.0967. "
            "The trained weights, read back with `--at @digits.npz`, classify 96.4% of the "
            "450 test images, which the training never saw, correctly."
        ),
        before=textwrap.dedent("""\
            ## The data

            `sklearn.datasets.load_digits()` holds 1,797 images of handwritten digits,
            about 180 of each of 0 to 9, 8×8 pixels of whole numbers from 0 to 16; they
            come with scikit-learn, nothing is downloaded. The script below scales the
            pixels to [0, 1] (divided by 16), gives each image one channel, the shape
            (N, C, H, W) that `conv2d` takes, and splits the images with
            `train_test_split(test_size=0.25, random_state=0, stratify=digits.target)`:
            1,347 to train on and 450 to test, each digit in the same proportion in
            both. The targets `T` are one-hot rows. It needs NumPy and scikit-learn
            (`python3 -m pip install ".[test]"` installs both); the build of this page
            runs it, then the commands after it, in one folder.
            """),
        scripts=(
            Script("digits_data.py", textwrap.dedent("""\
                import numpy as np
                from sklearn.datasets import load_digits
                from sklearn.model_selection import train_test_split

                digits = load_digits()                   # 1797 images, pixels 0 to 16
                images = digits.images[:, None] / 16.0   # (1797, 1, 8, 8), in [0, 1]
                train_x, test_x, train_y, test_y = train_test_split(
                    images, digits.target, test_size=0.25, random_state=0,
                    stratify=digits.target)
                onehot = np.eye(10)                      # row k is the target of a k
                np.savez("train.npz", X=train_x, T=onehot[train_y])
                np.savez("test.npz", X=test_x, T=onehot[test_y])
                print("train.npz: X", train_x.shape, "T", onehot[train_y].shape)
                print("test.npz:  X", test_x.shape, "T", onehot[test_y].shape)
                """)),
        ),
        commands=(
            'python3 digits_data.py',
            'chaincli minimize "h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); \\\n'
            '    z = flatten(p, 1) @ W + c; -mean(sum(T * logsoftmax(z), 1))" \\\n'
            '    --at @train.npz --wrt K,b,W,c --init K=8x1x3x3,b=8x1x1,W=72x10,c=10 \\\n'
            '    --seed 0 --method adam --lr 0.03 --steps 200 --plot --out digits.npz',
            'chaincli eval "h = relu(conv2d(X, K) + b); p = maxpool2d(h, 2); \\\n'
            '    z = flatten(p, 1) @ W + c; mean(1 + sign(sum(T * z, 1) - amax(z, 1)))" \\\n'
            '    --at @digits.npz --at @test.npz --format plain',
        ),
        warns=("Warning: maxpool2d(h, 2): a pooling window's maximum is tied",),
        extra=textwrap.dedent("""\
            ## The network

            One expression; the shapes are those of the 1,347 training images:

            ```text
            X                    (1347, 1, 8, 8)   the images, one channel
            conv2d(X, K) + b     (1347, 8, 6, 6)   K (8, 1, 3, 3): 8 kernels; b (8, 1, 1)
            h = relu(...)        (1347, 8, 6, 6)
            p = maxpool2d(h, 2)  (1347, 8, 3, 3)   the largest of each 2×2 window
            flatten(p, 1)        (1347, 72)        the axes from 1 on joined
            z = ... @ W + c      (1347, 10)        W (72, 10), c (10,): a logit per class
            -mean(sum(T * logsoftmax(z), 1))       cross-entropy, the mean over images
            ```

            That is 810 parameters (72 + 8 + 720 + 10). `--init` draws them from
            `--seed 0`, normal with standard deviation 1/√(last dimension); each step's
            gradient of the loss by all of them is one reverse sweep through the whole
            batch. The table summarizes `K` and `W` (more than 64 elements each) by
            norm, min and max; `digits.npz` holds every element. On the 2-core machine
            that built this page the 200 steps took about 5 seconds when it was idle
            (`bench/cnn.py` times them).

            The warning is about the trained weights: a 2×2 window whose largest value
            occurs twice passes its gradient to the first of them (row-major), as
            PyTorch does, and the loss has a kink there. Here that is common: the
            pixels are multiples of 1/16, the border of most images is 0, so many
            windows hold equal values, and after relu often four zeros.

            ## The accuracy, in chaincli's language

            There is no `argmax`, so the last command counts the right answers another
            way: `sum(T * z, 1)` is each test image's logit of its true class (`T` is
            one-hot) and `amax(z, 1)` its largest logit. Their difference is 0 when
            the true class has the largest logit and negative when not, so
            `1 + sign(...)` is 1 for an image classified right and 0 for one
            classified wrong, and its mean is the accuracy: 434 of the 450 images.
            (A tie for the largest logit would count as right.) The gallery's test
            checks this figure against NumPy's `argmax` of the logits computed from
            `digits.npz` by NumPy, and that it is at least 0.95;
            `tests/test_conv.py` holds the same training to 95% too.
            """),
    ),
    Example(
        slug="gaussian",
        title="A Gaussian's log-likelihood: by the mean and the covariance",
        commands=(
            'chaincli grad "R = X - mu; -0.5*3*logdet(S) - 0.5*sum(R * solve(S, R\')\')" \\\n'
            '    --at "X=[[1,2],[0,1],[2,0]],mu=[0.5,1.5],S=[[2,0.5],[0.5,1]]" \\\n'
            '    --wrt mu,S --explain reverse',
            'chaincli check "R = X - mu; -0.5*3*logdet(S) - 0.5*sum(R * solve(S, R\')\')" \\\n'
            '    --at "X=[[1,2],[0,1],[2,0]],mu=[0.5,1.5],S=[[2,0.5],[0.5,1]]" --wrt mu,S',
        ),
        summary=(
            "Three samples (the rows of `X`) of a two-dimensional Gaussian with mean `mu` and "
            "covariance `S` have the log-likelihood `-N/2 logdet(S) - 1/2 Σ (x - mu)' S⁻¹ "
            "(x - mu)`, up to a constant; `solve(S, R')` is `S⁻¹ R'` written without an "
            "inverse, and `'` transposes. The backward table shows the two rules that make "
            "`∂f/∂S`, `logdet`'s `δ*inv(S)'` and `solve`'s `-solve(S', δ) @ out'`, "
            "and `check` compares both gradients, element by element, with central "
            "differences."
        ),
        extra=textwrap.dedent("""\
            ## By hand

            With `R = X - mu` (one row per sample) and `N = 3`, the textbook gradients are

            ```text
            ∂f/∂mu = S⁻¹ Σ (x - mu)                = S⁻¹ (sum of R's rows)
            ∂f/∂S  = -N/2 S⁻¹ + 1/2 S⁻¹ R'R S⁻¹
            ```

            Here `S⁻¹ = [[4, -2], [-2, 8]]/7` and the rows of `R` sum to `[1.5, -1.5]`, so
            `∂f/∂mu = [9, -15]/7 = [1.28571, -2.14286]`, as in the first table. In the
            backward table, `logdet(S)` passes `-1.5 * inv(S)'` (the first term of `∂f/∂S`)
            and `solve(S, R')` passes the second, `-solve(S', δ) @ out'` with `δ = -R'/2`;
            `S` adds the two, and `R` passes `δmu = sum(-δR, 0)` to the mean.
            """),
    ),
    Example(
        slug="backprop-equations",
        title="A network's backprop equations: diff --steps",
        commands=(
            'chaincli diff "h = tanh(W1@x + b1); p = softmax(W2@h + b2); -sum(t*log(p))" \\\n'
            '    --wrt W1 --steps \\\n'
            '    --at W1=[[0.5,-0.3],[0.2,0.8],[-0.6,0.1]],b1=[0.1,0,-0.1] \\\n'
            '    --at W2=[[0.3,-0.2,0.5],[-0.4,0.6,0.1]],b2=[0,0.1],x=[1,-2],t=[0,1]',
            'chaincli diff "H = tanh(X @ W1 + b1); z = H @ w2 + b2; mean((z - t)^2)" \\\n'
            '    --wrt b1 --steps --at "X=[[0,0],[0,1],[1,0],[1,1]],t=[0,1,1,0]" \\\n'
            '    --at "W1=[[1,-1,0.5],[0.5,1,-1]],b1=[0,0.1,-0.1],w2=[1,-1,0.5],b2=0"',
        ),
        summary=(
            "The two-layer network of the backward-pass page, as formulas: each line is one "
            "layer's error signal written in the one above it, `δh = W2'@δu2` through the "
            "weights, `δu1 = δh*(1 - h^2)` through the activation, `δW1 = outer(δu1, x)` at "
            "the weights, with the rule from the primitive table beside it, and the last line "
            "is `diff`'s formula for the whole gradient. For a batch (the XOR network of the "
            "training page, four rows of `X` at once) the bias's gradient is the signal "
            "summed over the batch axis, `sum(δu1, 0)`."
        ),
        extra=textwrap.dedent("""\
            ## By hand

            The textbook's equations for `h = tanh(W1 x + b1)`, `p = softmax(W2 h + b2)` and
            the cross-entropy `L = -Σ t log p` are

            ```text
            δu2 = p Σt - t                (∂L/∂(W2 h + b2); p - t when t sums to 1)
            δh  = W2ᵀ δu2
            δu1 = δh ⊙ (1 - h²)
            ∂L/∂W1 = δu1 xᵀ,  ∂L/∂b1 = δu1
            ```

            chaincli writes the product `δu1 xᵀ` as `outer(δu1, x)` and the elementwise
            product as `*`. Its `δp = -(t/p)` and `δu2 = p*(δp - sum(δp*p))` are the two
            rules (of `log` and of `softmax`) that the textbook folds into its first line;
            substituted, they give `p*sum(t) - t`, as the last line has it. The test suite
            checks each line against the reverse sweep's adjoint of its node at random
            points.
            """),
    ),
]


class BuildError(Exception):
    """A command could not be shown: it failed, warned, or printed a local path."""


def find_chaincli() -> str:
    """The installed console script: beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "chaincli"
    if beside.exists():
        return str(beside)
    found = shutil.which("chaincli")
    if found is None:
        raise BuildError("chaincli is not installed: python3 -m pip install . first")
    return found


def environment() -> dict[str, str]:
    """The caller's environment with a fixed 80-column, colourless UTF-8 terminal."""
    env = {name: value for name, value in os.environ.items()
           if name not in _COLOUR_AND_SIZE}
    env.update(COLUMNS=str(WIDTH), LINES="24", NO_COLOR="1", TERM="dumb",
               PYTHONIOENCODING="utf-8")
    return env


def _words(command: str) -> list[str]:
    """The words of a shown command line, its backslash continuations joined."""
    return shlex.split(command.replace("\\\n", " "))


def arguments(command: str) -> list[str]:
    """The arguments of a shown ``chaincli`` command line."""
    words = _words(command)
    if not words or words[0] != "chaincli":
        raise BuildError(f"an example command must start with chaincli: {command!r}")
    return words[1:]


def program(command: str, script: str, scripts: tuple[Script, ...] = ()) -> list[str]:
    """What runs for a shown command: the console script, or this interpreter
    for ``python3 NAME`` when NAME is one of the page's ``scripts``."""
    words = _words(command)
    if len(words) == 2 and words[0] == "python3" and words[1] in {s.name for s in scripts}:
        return [sys.executable, words[1]]
    return [script, *arguments(command)]


def run(command: str, script: str, folder: Path = HERE, scripts: tuple[Script, ...] = (),
        warns: tuple[str, ...] = ()) -> str:
    """What ``command`` prints, with trailing blanks dropped from each line: the
    stderr lines that begin as one of ``warns`` do, then stdout.

    It runs in ``folder``: a page's commands share a fresh one, so a file one
    of them writes (``--out fit.npz``) is there for the next and nowhere else."""
    done = subprocess.run(program(command, script, scripts), capture_output=True,
                          env=environment(), cwd=folder, timeout=120)
    out = done.stdout.decode("utf-8")
    err = done.stderr.decode("utf-8", "replace")
    unexpected = [line for line in err.splitlines()
                  if not any(line.startswith(warning) for warning in warns)]
    if done.returncode != 0 or unexpected:
        raise BuildError(f"{command}\nexited {done.returncode}; stderr:\n{err}")
    warned = [textwrap.fill(line, WIDTH, break_long_words=False, break_on_hyphens=False)
              for line in err.splitlines()]
    shown = "".join(f"{line}\n" for line in warned) + out
    for local in (str(HERE.parent.parent), script, sys.executable, str(Path.home())):
        if len(local) > 1 and local in shown:  # a home of "/" is in every path
            raise BuildError(f"{command}\nprints a local path ({local}); "
                             "the pages must not depend on the machine")
    return "\n".join(line.rstrip() for line in shown.splitlines())


def _paragraph(text: str) -> str:
    """``text`` filled to the page width, never breaking inside a `code span`."""
    kept = re.sub(r"`[^`]*`", lambda span: span.group().replace(" ", "\0"), text)
    filled = textwrap.fill(kept, WIDTH, break_long_words=False, break_on_hyphens=False)
    return filled.replace("\0", " ")


def render_page(example: Example, script: str, folder: Path | None = None) -> str:
    """The Markdown page of ``example``, its commands run by ``script`` in
    ``folder`` (default: a temporary one), which then holds the files they wrote."""
    parts = [MARKER, f"# {example.title}", _paragraph(example.summary)]
    if example.before:
        parts.append(example.before.strip())
    for source in example.scripts:
        parts.append(f"`{source.name}`:\n\n```python\n{source.text.strip()}\n```")
    with tempfile.TemporaryDirectory(prefix="chaincli-example-") as scratch:
        place = Path(scratch) if folder is None else folder
        for source in example.scripts:
            (place / source.name).write_text(source.text, encoding="utf-8")
        for command in example.commands:
            shown = run(command, script, place, example.scripts, example.warns)
            parts.append(f"```console\n$ {command}\n{shown}\n```")
    if example.extra:
        parts.append(example.extra.strip())
    parts.append("Back to [all examples](README.md).")
    return "\n\n".join(parts) + "\n"


def render_index(examples: list[Example]) -> str:
    """``README.md``: what the gallery is, how it is made, and the pages in order."""
    intro = ("Small worked examples of the chain rule, each a page with the commands, "
             "their real output (as chaincli prints it on an 80-column terminal "
             "without colour) and what they show.")
    made = ("The pages are generated by `build.py` in this folder from the installed "
            "chaincli, and the test suite runs every command again and fails when a page "
            "no longer matches. To add an example, add an entry to `EXAMPLES` in "
            "`build.py`; to regenerate the pages after a change to chaincli's output, run "
            "this from the root of the checkout:")
    items = [f"{number}. [{example.title}]({example.filename})"
             for number, example in enumerate(examples, 1)]
    return "\n\n".join([MARKER, "# Worked examples", _paragraph(intro), "\n".join(items),
                        _paragraph(made), f"```sh\n{REGENERATE}\n```"]) + "\n"


def render_all(script: str, examples: list[Example] | None = None,
               folder: Path | None = None) -> dict[str, str]:
    """Every page of the gallery, file name → text, the index last. With
    ``folder``, each page's commands run in its subfolder named by the slug,
    which keeps the files they wrote."""
    examples = EXAMPLES if examples is None else examples
    slugs = [example.slug for example in examples]
    if len(set(slugs)) != len(slugs) or "README" in slugs:
        raise BuildError(f"example slugs must be distinct and not README: {slugs}")
    pages = {}
    for example in examples:
        place = None
        if folder is not None:
            place = folder / example.slug
            place.mkdir(parents=True, exist_ok=True)
        pages[example.filename] = render_page(example, script, place)
    pages["README.md"] = render_index(examples)
    return pages


def generated_files(folder: Path) -> list[str]:
    """The Markdown files in ``folder`` that this script wrote (they carry the marker)."""
    return sorted(path.name for path in folder.glob("*.md")
                  if path.read_text(encoding="utf-8").startswith(MARKER))


def difference(name: str, current: str, text: str) -> str:
    """The start of a diff from the page on disk to the page as chaincli makes it now."""
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(),
                                f"{name} (on disk)", f"{name} (chaincli now)",
                                lineterm="", n=1)
    return "\n".join(list(diff)[:40])


def differences(folder: Path, pages: dict[str, str]) -> list[str]:
    """One description per page that is missing, stale, or no longer generated."""
    found = []
    for name, text in pages.items():
        path = folder / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current is None:
            found.append(f"{name} is missing")
        elif current != text:
            found.append(difference(name, current, text))
    for name in generated_files(folder):
        if name not in pages:
            found.append(f"{name} is no longer an example")
    return found


def write(folder: Path, pages: dict[str, str]) -> list[str]:
    """Write ``pages`` into ``folder`` and remove generated pages no longer listed;
    returns the names of the files changed or removed."""
    changed = []
    for name in generated_files(folder):
        if name not in pages:
            (folder / name).unlink()
            changed.append(name)
    for name, text in pages.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a page differs from chaincli's output")
    parser.add_argument("--chaincli", help="the console script to run "
                        "(default: the one installed beside this Python, else on PATH)")
    options = parser.parse_args(argv)
    try:
        pages = render_all(options.chaincli or find_chaincli())
    except BuildError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    if options.check:
        stale = differences(HERE, pages)
        for description in stale:
            print(description, file=sys.stderr)
        if stale:
            print(f"Regenerate the examples: {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    for name in write(HERE, pages):
        print(f"wrote {name}" if name in pages else f"removed {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
