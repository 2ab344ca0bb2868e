"""Float arrays for PostgreSQL packed in one ``struct.pack`` (imported only for PostgreSQL).

psycopg dumps a list element by element in Python; a reading row is mostly floats, so
packing float8[] in PostgreSQL's binary array format ourselves cuts most of that
(36 values: about 9 us here, several times less than psycopg's list dumper).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from psycopg import Connection
from psycopg.adapt import Dumper
from psycopg.pq import Format

FLOAT8_OID = 701
FLOAT8_ARRAY_OID = 1022
# array_send's layout: ndim, has-nulls flag, element type, then per dimension its length
# and lower bound; then per element its byte length (-1: NULL) and the value.
_HEAD = ">iiiii"


class Float8Array:
    """A list of floats (or None) already in PostgreSQL's binary ``float8[]`` form."""

    __slots__ = ("data",)

    def __init__(self, values: Sequence[float | None]) -> None:
        count = len(values)
        nulls = values.count(None)
        if nulls == 0:  # the usual case: one (length, value) pair per element, in C
            pairs: list[Any] = [8] * (2 * count)
            pairs[1::2] = values
            self.data = struct.pack(f"{_HEAD}{count * 'id'}", 1, 0, FLOAT8_OID, count, 1, *pairs)
        elif nulls == count:
            self.data = struct.pack(f"{_HEAD}{count}i", 1, 1, FLOAT8_OID, count, 1, *[-1] * count)
        else:
            layout = _HEAD + "".join("i" if v is None else "id" for v in values)
            flat: list[Any] = [1, 1, FLOAT8_OID, count, 1]
            for value in values:
                if value is None:
                    flat.append(-1)
                else:
                    flat += (8, value)
            self.data = struct.pack(layout, *flat)  # ints pack as doubles too


class Float8ArrayDumper(Dumper):
    format = Format.BINARY
    oid = FLOAT8_ARRAY_OID

    def dump(self, obj: Float8Array) -> bytes:
        return obj.data


def register(connection: Connection[object]) -> None:
    """Teach a psycopg connection to send :class:`Float8Array` parameters."""
    connection.adapters.register_dumper(Float8Array, Float8ArrayDumper)
