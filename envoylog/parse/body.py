"""Decode and shape-check gateway bodies: anything unexpected becomes a ParseError."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import NoReturn

import orjson

from envoylog.errors import ParseError
from envoylog.parse import bounds
from envoylog.records import ReadingFlag, utc_from_epoch

EXCERPT_CHARS = 80
_EXCERPT_WINDOW = 65_536

_BEARER = re.compile(r"(?i)\bbearer\s+\S+")
_SECRET_FIELD = re.compile(
    r"(?i)\b(token|password|passwd|secret|session_?id|auth)(\W{0,3})[:=]\s*[\"']?[^\s\"',;&}]+"
)
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/_.=-]{32,}")
_WHITESPACE = re.compile(r"\s+")
# Control characters left after whitespace is collapsed: a NUL would make PostgreSQL refuse
# the endpoint's error text, and with it the whole poll.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_PLAIN_ERROR = re.compile(r"(?i)^\s*error:?\s*(\d{3})\b")


def excerpt(body: bytes) -> str:
    """Give the start of a body, whitespace collapsed, secrets redacted, at most ~80 chars."""
    text = _decode(body[:_EXCERPT_WINDOW])
    text = _WHITESPACE.sub(" ", text).strip()
    text = _BEARER.sub("Bearer [redacted]", text)
    text = _SECRET_FIELD.sub(r"\1\2=[redacted]", text)
    text = _TOKEN_RUN.sub("[redacted]", text)
    text = _CONTROL.sub("\ufffd", text)
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1] + "…"
    return text


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Old firmware labels bodies ISO-8859-x; latin-1 never fails and keeps ASCII intact.
        return raw.decode("latin-1")


_MARKUP = re.compile(r"\s*<")  # \s is str.isspace()'s whitespace, as str.lstrip() strips
_EPOCH_ERRORS = (OverflowError, OSError, ValueError)


class Doc:
    """One endpoint's body, with the helpers that turn its faults into ParseErrors."""

    __slots__ = ("_text", "body", "endpoint")

    def __init__(self, endpoint: str, body: bytes) -> None:
        self.endpoint = endpoint
        self.body = body
        self._text: str | None = None

    def fail(self, problem: str) -> NoReturn:
        """Raise a ParseError naming this endpoint, with a redacted excerpt of the body."""
        problem = _CONTROL.sub("\ufffd", problem)  # it may quote the body
        raise ParseError(self.endpoint, problem, excerpt=excerpt(self.body) or None)

    def text(self) -> str:
        """Decode the body as text; an empty body is an error."""
        if self._text is None:
            if not isinstance(self.body, bytes | bytearray):
                self.fail(f"body is {type(self.body).__name__}, not bytes")
            text = _decode(bytes(self.body))
            if not text or text.isspace():
                self.fail("empty body")
            self._text = text
        return self._text

    def is_html(self) -> bool:
        """Say whether the body is markup (an HTML page) rather than JSON."""
        return _MARKUP.match(self.text()) is not None

    def html_problem(self) -> str:
        """Describe an HTML page that came where data was expected."""
        match = _TITLE.search(self.text())
        title = _WHITESPACE.sub(" ", match.group(1)).strip() if match else ""
        return f"an HTML page (title {title!r}) instead of data" if title else "an HTML page"

    def fits(self, where: str, text: str, most: int) -> None:
        """Refuse text that its column cannot store: longer than `most`, or holding a NUL."""
        if len(text) > most:
            self.fail(f"{where}: {len(text):,} characters, more than its column holds ({most})")
        if "\x00" in text:
            self.fail(f"{where}: holds a NUL character, which no database stores")

    def json(self) -> object:
        """Decode JSON, refusing HTML pages, plain-text errors and gateway error objects."""
        self.refuse_beyond(bounds.MAX_JSON_VALUES, "JSON values", b",", b"[", b"{")
        text = self.text()
        if _MARKUP.match(text):
            self.fail(self.html_problem())
        plain = _PLAIN_ERROR.match(text)
        if plain:
            self.fail(f"the gateway answered 'Error: {plain.group(1)}' instead of data")
        try:
            # orjson, the one decoder. Integers beyond 64 bits come as the nearest float, as
            # the number readers would make of them anyway; what it refuses (NaN, numbers
            # beyond a double, lone surrogates, which no column can store) is refused here.
            data: object = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self.fail(f"unreadable JSON ({exc.msg} at char {exc.pos})")
        if isinstance(data, dict):
            self._refuse_error_object(data)
        return data

    def _refuse_error_object(self, data: Mapping[str, object]) -> None:
        error = data.get("error")
        status = data.get("status")
        if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
            detail = data.get("info") or error or ""
            self.fail(f"the gateway answered status {status} {detail}".rstrip())
        if (isinstance(error, str) and error.strip()) or isinstance(error, dict):
            self.fail(f"the gateway answered an error: {str(error)[:60]}")

    def refuse_beyond(self, most: int, what: str, *marks: bytes) -> None:
        """Refuse, before decoding, a body with more than `most` of the `marks` in it."""
        if isinstance(self.body, bytes | bytearray):
            found = sum(self.body.count(mark) for mark in marks)
            if found > most:
                self.fail(
                    f"up to {found:,} {what}, more than a gateway with at most "
                    f"{bounds.MAX_DEVICES:,} devices sends ({most:,})"
                )

    def json_object(self) -> Obj:
        """Decode a JSON body that must be an object."""
        return self.as_obj(self.json(), "body")

    def as_obj(self, value: object, where: str) -> Obj:
        """Check that a value is a JSON object and wrap it for typed access."""
        if not isinstance(value, dict):
            self.fail(f"{where}: expected an object, got {_kind(value)}")
        return Obj(self, value, where)

    def as_list(self, value: object, where: str) -> list[object]:
        """Check that a value is a JSON list, of no more entries than a gateway has devices."""
        if not isinstance(value, list):
            self.fail(f"{where}: expected a list, got {_kind(value)}")
        self.count(where, len(value), "entries")
        return value

    def count(self, where: str, found: int, what: str) -> None:
        """Refuse a count beyond what a gateway can have (bounds.MAX_DEVICES)."""
        if found > bounds.MAX_DEVICES:
            self.fail(
                f"{where}: {found:,} {what}, more than a gateway has "
                f"(at most {bounds.MAX_DEVICES:,} devices)"
            )

    def as_objs(self, value: object, where: str) -> list[Obj]:
        """Check that a value is a list of JSON objects."""
        items = self.as_list(value, where)
        return [self.as_obj(item, f"{where}[{i}]") for i, item in enumerate(items)]


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"a string {value[:20]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Obj:
    """A JSON object read with type checks; every failure names the endpoint and the key."""

    __slots__ = ("data", "doc", "where")

    def __init__(self, doc: Doc, data: dict[str, object], where: str) -> None:
        self.doc = doc
        self.data = data
        self.where = where

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def _missing(self, key: str) -> NoReturn:
        self.doc.fail(f"{self.where}: missing required key {key!r}")

    def _wrong(self, key: str, expected: str, value: object) -> NoReturn:
        self.doc.fail(f"{self.where}.{key}: expected {expected}, got {_kind(value)}")

    def opt_num(self, key: str) -> float | None:
        """Read a number (not a boolean, not a string) as a float; None when absent or null.

        It is finite: the decoder refuses NaN and numbers beyond a double.
        """
        value = self.data.get(key)
        if type(value) is float:
            return value
        if value is None:
            return None
        if type(value) is not int:  # a bool is no int here
            self._wrong(key, "a number", value)
        return float(value)

    def num(self, key: str) -> float:
        """Read a required finite number."""
        value = self.opt_num(key)
        if value is None:
            self._missing(key)
        return value

    def opt_int(self, key: str, *, most: int, what: str, least: int = 0) -> int | None:
        """Read a whole number (3 or 3.0) in [least, most], which is `what`; None when absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is not int:  # exact as sent; a float must be whole
            number = self.opt_num(key)
            assert number is not None
            if not number.is_integer():
                self._wrong(key, "a whole number", value)
            value = int(number)
        if not least <= value <= most:
            self.doc.fail(f"{self.where}.{key}: {value} is not {what} ({least:,} to {most:,})")
        return value

    def int_(self, key: str, *, most: int, what: str, least: int = 0) -> int:
        """Read a required whole number in [least, most]."""
        value = self.opt_int(key, most=most, what=what, least=least)
        if value is None:
            self._missing(key)
        return value

    def opt_str(self, key: str, *, most: int | None = None) -> str | None:
        """Read a string; None when absent or null. `most`: the width of the column it goes to."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self._wrong(key, "a string", value)
        if most is not None:
            self.fits(key, value, most)
        return value

    def str_(self, key: str, *, most: int | None = None) -> str:
        """Read a required, non-empty string."""
        value = self.opt_str(key, most=most)
        if value is None or not value.strip():
            self._missing(key)
        return value

    def fits(self, key: str, text: str, most: int) -> None:
        """Refuse text that its column cannot store (see Doc.fits)."""
        self.doc.fits(f"{self.where}.{key}", text, most)

    def opt_bool(self, key: str) -> bool | None:
        """Read a JSON boolean; None when absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self._wrong(key, "true or false", value)
        return value

    def opt_obj(self, key: str) -> Obj | None:
        """Read a nested object; None when absent or null."""
        value = self.data.get(key)
        if value is None:
            return None
        return self.doc.as_obj(value, f"{self.where}.{key}")

    def opt_objects(self, key: str) -> list[Obj]:
        """Read a list of objects; empty when absent or null."""
        value = self.data.get(key)
        if value is None:
            return []
        return self.doc.as_objs(value, f"{self.where}.{key}")

    def opt_strs(self, key: str) -> tuple[str, ...]:
        """Read a list of strings; empty when absent or null."""
        value = self.data.get(key)
        if value is None:
            return ()
        items = self.doc.as_list(value, f"{self.where}.{key}")
        if not all(isinstance(item, str) for item in items):
            self._wrong(key, "a list of strings", value)
        return tuple(str(item) for item in items)

    def epoch(self, key: str, *, digits_ok: bool = False) -> datetime | None:
        """Read an epoch instant as aware UTC; None when absent or 0 (the gateway's 'no time').

        ``digits_ok``: a string of digits is read as its number (/inventory.json sends
        ``"installed": "1714670312"``).
        """
        value = self.data.get(key)
        if digits_ok and isinstance(value, str) and value.isascii() and value.isdigit():
            return to_utc(self.doc, float(value), f"{self.where}.{key}")
        seconds = self.opt_num(key)
        if seconds is None:
            return None
        if seconds < 0:
            self._wrong(key, "an epoch in seconds", seconds)
        return to_utc(self.doc, seconds, f"{self.where}.{key}")

    def flagged_instant(
        self, key: str, fetched_at: datetime, *, request_time: bool, digits_ok: bool = False
    ) -> tuple[datetime, list[ReadingFlag]]:
        """The instant under ``key``; the fetch time, flagged, when it gives none or a skewed one.

        A skewed instant (bounds.clock_skew) is kept out of energy by its CLOCK_SKEW flag.
        """
        at = self.epoch(key, digits_ok=digits_ok)
        if at is None:
            return fetched_at, [ReadingFlag.NO_READING_TIME]
        if bounds.clock_skew(at, fetched_at, request_time=request_time) is not None:
            # One series on two clocks, the gateway's and ours, could read the same energy
            # twice where they meet.
            return fetched_at, [ReadingFlag.CLOCK_SKEW]
        return at, []


def milli(value: float | None) -> float | None:
    """A milli-unit value (mV, mA, mW, mHz) in its unit; None stays None."""
    return value / 1000 if value is not None else None


def to_utc(doc: Doc, seconds: float, where: str) -> datetime | None:
    """Turn epoch seconds into aware UTC, failing with a ParseError on absurd values."""
    try:
        return utc_from_epoch(seconds)
    except _EPOCH_ERRORS:
        doc.fail(f"{where}: {seconds!r} is not a usable epoch")
