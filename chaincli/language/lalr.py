"""A table-driven LALR(1) parser: the run-time half of ``syntax``.

It reads the tables that ``parser_tables`` made from the grammar (terminals in
Lark's matching order, rules, the action table) and runs the textbook shift/
reduce loop on an explicit stack, so no input depth can reach Python's
recursion limit. Each reduction calls the builder method named by the rule's
alias, with the children Lark would pass: tokens whose names start with ``_``
are dropped, rules whose names start with ``_`` are spliced into their parent,
and a ``?rule`` with one child is that child.

It exists because building Lark's parser costs more than a whole one-shot run,
and because a tight loop over precomputed tables parses large generated
expressions several times faster.
"""

from __future__ import annotations

import gc
import re
from collections import namedtuple
from itertools import chain

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing stays off the one-shot path
    from typing import Any, Callable

# A token: its terminal's name, its text and where it is, (start, end).
Token = namedtuple("Token", ("type", "text", "start", "end"))


class SyntaxProblem(Exception):
    """Where and why the input stops being the grammar (described by ``syntax``)."""

    def __init__(self, position: int, token: Token | None = None,
                 expected: frozenset[str] = frozenset()):
        super().__init__(position)
        self.position = position
        self.token = token          # None: no terminal matches at ``position``
        self.expected = expected


class Parser:
    """The LALR parser for one set of tables, reusable for any number of inputs."""

    def __init__(self, tables, postlex: Callable | None = None):
        self._states = tables.STATES
        self._start = tables.START
        self._end = tables.END
        # Each action as one int, looked up by state number: a state to shift
        # (or, for a rule's name, to go) to, or ``~rule`` to reduce by a rule.
        self._actions: list[dict[str, int]] = [{}] * len(tables.STATES)
        for state, row in tables.STATES.items():
            self._actions[state] = {symbol: argument if kind == 0 else ~argument
                                    for symbol, (kind, argument) in row.items()}
        # How each rule is reduced: a ``?rule`` with one child only changes the
        # state (most reductions of an expression are these), a rule of one
        # kept child calls its builder method on it in place, a list rule
        # (``(COMMA sum)*``) grows the list it was handed, any other rule
        # gathers its children.
        self._rules = []
        for origin, size, keep, alias, expand1, inline in tables.RULES:
            if size == 1 and keep == (1,) and not inline:
                how = _PASS if expand1 else _CALL
            elif inline and size > 1 and keep == (2,) + (1,) * (size - 1):
                how = _GROW
            else:
                how = _GATHER
            self._rules.append((how, origin, size, keep, alias, expand1, inline))
        # Where a run of one-child reductions ends, by (state below, state,
        # lookahead): filled as inputs need it, bounded by the table's size.
        self._passes: dict[tuple[int, int, str], int] = {}
        ignore = set(tables.IGNORE)
        # One alternation in Lark's terminal order. Each terminal is wrapped in
        # a group; that group closes last, so ``lastindex`` names the terminal
        # (its own inner groups only shift the numbering).
        self._kinds: dict[int, tuple[str, bool]] = {}
        group = 1
        for name, pattern in tables.TERMINALS:
            self._kinds[group] = (name, name in ignore)
            group += 1 + re.compile(pattern).groups
        # A last alternative matches any character, so every position is
        # matched and the scan can run in one pass; it means no terminal fits.
        self._kinds[group] = (None, False)
        self._scanner = re.compile("|".join(f"({pattern})" for _, pattern in tables.TERMINALS)
                                   + "|((?s:.))")
        self._postlex = postlex
        # Children copied from one reduction's list into another's, over the
        # parser's life: the tests read it to see that parsing stays linear.
        self.spliced = 0

    def tokens(self, text: str):
        """The tokens of ``text``; ignored terminals are skipped."""
        kinds = self._kinds
        make = tuple.__new__    # a third faster than calling Token(...)
        for found in self._scanner.finditer(text):
            name, ignored = kinds[found.lastindex]
            start, end = found.span()
            if name is None or start == end:
                raise SyntaxProblem(start)
            if not ignored:
                yield make(Token, (name, found.group(), start, end))

    def _tokens_with_shortcut(self, text: str, shortcut, states: list[int]):
        """``tokens``, except that where ``shortcut.opening`` starts a run the
        shortcut can read whole, in a state that could shift
        ``shortcut.stand_in`` instead, the run is one ``stand_in`` token.

        The parser reads tokens one at a time, so ``states`` is the state
        the next token meets (an ignored newline does not change it)."""
        kinds, actions = self._kinds, self._actions
        opening, stand_in = shortcut.opening, shortcut.stand_in
        make = tuple.__new__
        position = 0
        while True:
            for found in self._scanner.finditer(text, position):
                name, ignored = kinds[found.lastindex]
                start, end = found.span()
                if name is None or start == end:
                    raise SyntaxProblem(start)
                if ignored:
                    continue
                if name == opening and start in shortcut.starts():
                    row = actions[states[-1]]
                    if row.get(opening, -1) >= 0 and row.get(stand_in, -1) >= 0:
                        value = shortcut.take(start)
                        if value is not None:
                            end = value.span[1]
                            yield make(Token, (stand_in, text[start:end], start, end))
                            position = end
                            break
                yield make(Token, (name, found.group(), start, end))
            else:
                return

    def parse(self, text: str, builder, shortcut=None) -> Any:
        """The builder's value for ``text``. ``shortcut``, if given, may read
        some runs of the text whole (see ``_tokens_with_shortcut``); the
        builder then gets them as ``stand_in`` tokens."""
        # The nodes built here hold no cycles, yet each of the collector's
        # passes walks all of them: paused, a long literal parses a quarter faster.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._parse(text, builder, shortcut)
        finally:
            if collecting:
                gc.enable()

    def _parse(self, text: str, builder, shortcut=None) -> Any:
        actions, rules, accept, passes = self._actions, self._rules, self._end, self._passes
        callbacks: dict[str, Callable] = {}
        stack_states = [self._start]
        stack_values: list[Any] = []
        spliced = 0
        if shortcut is None:
            stream = self.tokens(text)
        else:
            stream = self._tokens_with_shortcut(text, shortcut, stack_states)
        if self._postlex is not None:
            stream = self._postlex(stream)
        for token in chain(stream, (Token("$END", "", len(text), len(text)),)):
            kind = token.type
            while True:
                step = actions[stack_states[-1]].get(kind)
                if step is None:
                    raise SyntaxProblem(token.start, token,
                                        frozenset(actions[stack_states[-1]]))
                if step >= 0:   # shift
                    stack_states.append(step)
                    stack_values.append(token)
                    break
                how, origin, size, keep, alias, expand1, inline = rules[~step]
                if how is _PASS:
                    key = (stack_states[-2], stack_states[-1], kind)
                    goto = passes.get(key)
                    if goto is None:
                        goto = passes[key] = self._pass_run(*key)
                    stack_states[-1] = goto
                    if goto == accept and kind == "$END":
                        self.spliced += spliced
                        return stack_values[-1]
                    continue
                if how is _CALL:
                    callback = callbacks.get(alias)
                    if callback is None:
                        callback = callbacks[alias] = getattr(builder, alias)
                    stack_values[-1] = callback(stack_values[-1])
                    goto = stack_states[-1] = actions[stack_states[-2]][origin]
                    if goto == accept and kind == "$END":
                        self.spliced += spliced
                        return stack_values[-1]
                    continue
                if how is _GROW:
                    # The list sits below its new children, and only this
                    # stack holds it: append to it in place. Copying it at
                    # every element made long literals quadratic.
                    count = 1 - size
                    tail = stack_values[count:]
                    del stack_values[count:]
                    del stack_states[count:]
                    stack_values[-1].extend(tail)
                    goto = stack_states[-1] = actions[stack_states[-2]][origin]
                    if goto == accept and kind == "$END":
                        self.spliced += spliced
                        return stack_values[-1]
                    continue
                if size:
                    children = stack_values[-size:]
                    del stack_values[-size:]
                    del stack_states[-size:]
                else:
                    children = []
                if keep and keep[0] == 2:
                    # The first child is a list an inline rule made, held by
                    # nothing else: extend it rather than copy it (a program
                    # of many let-bindings grows one this way).
                    kept = children[0]
                    rest = zip(keep[1:], children[1:])
                else:
                    kept = []
                    rest = zip(keep, children)
                for mode, child in rest:
                    if mode == 1:
                        kept.append(child)
                    elif mode == 2:
                        spliced += len(child)
                        kept.extend(child)
                if inline:
                    value = kept
                elif expand1 and len(kept) == 1:
                    value = kept[0]
                else:
                    callback = callbacks.get(alias)
                    if callback is None:
                        callback = callbacks[alias] = getattr(builder, alias)
                    value = callback(*kept)
                goto = actions[stack_states[-1]][origin]
                if goto == accept and kind == "$END":
                    self.spliced += spliced
                    return value
                stack_states.append(goto)
                stack_values.append(value)
        raise AssertionError("the parse table has no accepting state")  # pragma: no cover

    def _pass_run(self, below: int, state: int, kind: str) -> int:
        """The state after every one-child reduction that ``kind`` calls for
        in ``state`` above ``below``: all of them keep the value and the
        state below, so the run depends on these three only."""
        actions, rules = self._actions, self._rules
        while True:
            step = actions[state].get(kind)
            if step is None or step >= 0 or rules[~step][0] is not _PASS:
                return state
            state = actions[below][rules[~step][1]]
            if state == self._end and kind == "$END":
                return state


# How a rule is reduced (see ``Parser.__init__``).
_PASS, _CALL, _GROW, _GATHER = "pass", "call", "grow", "gather"
