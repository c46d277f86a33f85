"""Records: plain data classes without ``dataclasses``, for the one-shot path.

The AST, the tape, the primitive table, the results and the explanations are
all built by a plain ``grad … --json``. As dataclasses they cost that run the
import of ``dataclasses`` (which brings ``inspect``, ``ast``, ``dis`` and
``tokenize``) and a generated, compiled ``__init__``, ``__repr__`` and
``__eq__`` for every class, a large part of its start-up. So each of them is
a small class that names its fields once, in ``__slots__``, and writes its
own ``__init__``; ``Record`` gives it the ``repr`` and ``==`` a dataclass
would have, read from those fields, and ``Frozen`` the hash of a frozen one.
A class whose slots hold more than its fields (a cache) lists the fields as
``_fields``.
"""

from __future__ import annotations


class Record:
    """``repr`` and ``==`` over the fields, as ``@dataclass`` gives them; unhashable."""

    __slots__ = ()

    @property
    def _field_names(self) -> tuple[str, ...]:
        cls = type(self)
        return getattr(cls, "_fields", None) or cls.__slots__

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self._field_names)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._field_names)
        return f"{type(self).__qualname__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class Frozen(Record):
    """A ``Record`` that is never changed after ``__init__``, hashed by its fields."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._values())
