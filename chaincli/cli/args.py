"""Which words of a command line are expressions: the rule both entry paths share.

An expression may start with "-" (``-tanh(x)``, ``-2*x``). A CLI framework
reads such a word as a cluster of short options (``-t``, then ``-a`` with the
value ``nh(x)``), so before any parsing, the words of a command that takes
expressions are sorted here:

- a word that is exactly one of the command's options (``-a``, ``--at``) is
  that option, and if the option takes a value, the next word is its value,
  whatever it starts with (``--from -3``, ``--at x=-1``);
- ``--name=value`` for one of the command's long options is that option;
- a word shaped like a long option (``--name``, ``--name=...``) that is not
  one of them stays an option, so the framework reports it as unknown (a
  misspelt ``--wtr`` is an error, not an expression);
- ``-`` (stdin), and every other word starting with "-", is an expression;
- after ``--`` every word is an expression, as usual.

``arrange`` returns the words as ``options + ["--"] + expressions``, which any
parser that knows ``--`` reads the same way. The fast path (``cli_fast``) and
the Typer app (``cli``, for every command declared with ``EXPR_SETTINGS``) both
call it, so the two cannot differ. Short options with an attached value
(``-ax=1``) are not options under this rule: write ``-a x=1``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Collection, Optional


def _long_option_shaped(word: str) -> bool:
    # Without the re module: the fast path imports this on every run.
    name = word[2:].partition("=")[0]
    return (word.startswith("--") and name[:1].isascii() and name[:1].isalpha()
            and all(c.isascii() and (c.isalnum() or c == "-") for c in name))


def arrange(words: list[str], takes_value: Collection[str],
            flags: Collection[str]) -> Optional[list[str]]:
    """``words`` as options, ``--``, then expressions; None when nothing needs moving.

    ``takes_value`` and ``flags`` are the command's option names (every
    spelling: ``-a`` and ``--at``). When an option that needs a value ends the
    line, the options alone come back, that one last, for the parser to report.
    """
    options: list[str] = []
    expressions: list[str] = []
    moved = False
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            expressions.extend(words[index:])
            moved = True
            break
        if word in takes_value:
            if index >= len(words):
                # The line ends where a value should be: the parser must see
                # that, not the expressions (which it would read as options).
                return options + [word]
            options += [word, words[index]]
            index += 1
        elif word in flags or _long_option_shaped(word):
            options.append(word)
        else:
            expressions.append(word)
            moved = moved or (word.startswith("-") and word != "-")
    if not moved:
        return None
    return options + ["--"] + expressions
