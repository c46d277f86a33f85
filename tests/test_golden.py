"""The comparison of printed output with a stored copy (``golden``)."""

from __future__ import annotations

import pytest

from golden import FINITE_DIFFERENCE, REL, assert_matches, first_difference, tokens

TABLE = """\
   gradient, tolerance 1e-06
┏━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓
┃ variable ┃            analytic ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩
│ W1[0,0]  │ 0.15203085196848165 │
│ x[0]     │ -0.0318194035223465 │
└──────────┴─────────────────────┘
"""

# The same table where NumPy rounded the last bits the other way: wider numbers,
# so Rich pads the column and centres the title differently.
OTHER_CPU = """\
    gradient, tolerance 1e-06
┏━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━┓
┃ variable ┃              analytic ┃
┡━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━┩
│ W1[0,0]  │   0.15203085196848162 │
│ x[0]     │ -0.031819403522346495 │
└──────────┴───────────────────────┘
"""


def test_last_bits_and_the_padding_they_bring_match():
    assert first_difference(TABLE, OTHER_CPU) is None
    assert_matches(TABLE, OTHER_CPU)
    assert first_difference("f = 1.244939313519304\n", "f = 1.2449393135193043\n") is None


@pytest.mark.parametrize("changed", [
    TABLE.replace("0.15203085196848165", "0.15203085196"),   # a real change of value
    TABLE.replace("W1[0,0]", "W1[0,1]"),                      # an index is a number too
    TABLE.replace("variable", "Variable"),                   # text, exactly
    TABLE.replace("1e-06", "1e-07"),
    TABLE.replace("┃ variable", "┃variable"),                # blanks gone, not resized
    TABLE.replace("━", "─"),                                  # another rule
    TABLE.replace("-0.0318194035223465", "0.0318194035223465"),  # a sign
    TABLE + "\n",                                             # one ends before the other
    TABLE[:-1],
])
def test_every_other_change_is_found(changed):
    difference = first_difference(TABLE, changed)
    assert difference is not None
    with pytest.raises(AssertionError, match="differs from the stored copy at line"):
        assert_matches(TABLE, changed)


def test_the_tolerance_is_relative_and_absolute_near_zero():
    assert first_difference("1e6", "1.0000000000009e6") is None
    assert first_difference("1e6", "1.000000000002e6") is not None
    # A residual near 0 is the difference of numbers of order one.
    assert first_difference("3.836442497018311e-09", "3.8364424975e-09") is None
    assert first_difference("3.8e-09", "5.1e-09") is not None
    assert first_difference("-0.031819403507425216", "-0.03181940348909096") is not None
    assert first_difference("-0.031819403507425216", "-0.03181940348909096",
                            FINITE_DIFFERENCE) is None
    assert REL < FINITE_DIFFERENCE < 1e-6  # looser than rounding, far below check's default


def test_tokens():
    assert tokens("a  1.5e-3━━ x") == [("text", "a"), ("run", "  "), ("number", "1.5e-3"),
                                       ("run", "━━"), ("run", " "), ("text", "x")]


# A summary cell that wraps: one digit fewer moves a word to the line above.
WRAPPED = """\
│ K (8, 1, 3, 3) │ norm 7.330238583647603, min -2.0698776809975996, max │
│                │  2.0713384367362715 (every element: --json, --format │
│                │                                     plain or --out) │
"""
def test_a_cell_wrapped_at_another_word_matches_when_a_number_changed_width():
    moved = WRAPPED.replace("--format │\n│                │                                     plain",
                            "--format plain │\n│                │                                     ")
    moved = moved.replace("-2.0698776809975996", "-2.069877680997599")
    assert first_difference(WRAPPED, moved) is None
    # The same move with every number printed as before is a change of layout.
    unchanged = moved.replace("-2.069877680997599", "-2.0698776809975996")
    assert first_difference(WRAPPED, unchanged) is not None
    # Content still counts: a word changed, or a number beyond the tolerance.
    assert first_difference(WRAPPED, moved.replace("plain", "table")) is not None
    assert first_difference(WRAPPED, moved.replace("7.330238583647603", "7.3302385")) is not None
