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

import re
from typing import Any, Callable, NamedTuple


class Token(NamedTuple):
    type: str
    text: str
    start: int
    end: int


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
        self._rules = tables.RULES
        self._start = tables.START
        self._end = tables.END
        ignore = set(tables.IGNORE)
        # One alternation in Lark's terminal order. Each terminal is wrapped in
        # a group; that group closes last, so ``lastindex`` names the terminal
        # (its own inner groups only shift the numbering).
        self._kinds: dict[int, tuple[str, bool]] = {}
        group = 1
        for name, pattern in tables.TERMINALS:
            self._kinds[group] = (name, name in ignore)
            group += 1 + re.compile(pattern).groups
        self._scanner = re.compile("|".join(f"({pattern})" for _, pattern in tables.TERMINALS))
        self._postlex = postlex

    def tokens(self, text: str):
        """The tokens of ``text``; ignored terminals are skipped."""
        match = self._scanner.match
        kinds = self._kinds
        position, length = 0, len(text)
        while position < length:
            found = match(text, position)
            if found is None or found.end() == position:
                raise SyntaxProblem(position)
            name, ignored = kinds[found.lastindex]
            end = found.end()
            if not ignored:
                yield Token(name, found.group(), position, end)
            position = end

    def parse(self, text: str, builder) -> Any:
        states, rules = self._states, self._rules
        callbacks = {}
        stack_states = [self._start]
        stack_values: list[Any] = []
        stream = self.tokens(text)
        if self._postlex is not None:
            stream = self._postlex(stream)
        end = Token("$END", "", len(text), len(text))
        for token in _with_end(stream, end):
            while True:
                actions = states[stack_states[-1]]
                step = actions.get(token.type)
                if step is None:
                    raise SyntaxProblem(token.start, token, frozenset(actions))
                kind, argument = step
                if kind == 0:   # shift
                    stack_states.append(argument)
                    stack_values.append(token)
                    break
                origin, size, keep, alias, expand1, inline = rules[argument]
                if size:
                    children = stack_values[-size:]
                    del stack_values[-size:]
                    del stack_states[-size:]
                else:
                    children = []
                kept: list[Any] = []
                for mode, child in zip(keep, children):
                    if mode == 1:
                        kept.append(child)
                    elif mode == 2:
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
                goto = states[stack_states[-1]][origin][1]
                if goto == self._end and token.type == "$END":
                    return value
                stack_states.append(goto)
                stack_values.append(value)
        raise AssertionError("the parse table has no accepting state")  # pragma: no cover


def _with_end(stream, end: Token):
    yield from stream
    yield end
