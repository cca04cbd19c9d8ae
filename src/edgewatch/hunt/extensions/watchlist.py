"""``_GetWatchlist('alias')`` in a query's text, read as a table the engine provides.

Sentinel's ``_GetWatchlist`` is a stored function over its ``Watchlist`` table; here a
watchlist is a CSV file on the node (``hunt/watchlists.py``), loaded onto the hunting
connection as a temp table before the query runs. This module is the translation half:

* :func:`aliases` lists the watchlists a query reads, so they are loaded before
  translation (``join`` and ``union`` need their columns);
* :func:`rewrite` replaces each call by that table's name (``ew_wl_`` and a hash of
  the alias folded to lower case: ``'VIPUsers'`` and ``'vipusers'`` read one table),
  padded with spaces, so an error still points at the line and column the user wrote;
* :func:`readable` puts the call back into a message that names such a table.

Only a string literal is an alias here (``'x'``, ``"x"``, ``@'x'``); a ``let`` variable
or a second argument is refused by name rather than guessed at.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from duckdb_kql.errors import KqlUnsupportedError, SourceSpan

FUNCTION = "_GetWatchlist"
TABLE_PREFIX = "ew_wl_"
_TABLE = re.compile(r"\bew_wl_[0-9a-f]{12}\b")


def table_name(alias: str) -> str:
    """The temp table holding a watchlist on a hunting connection."""
    digest = hashlib.sha256(alias.casefold().encode("utf-8")).hexdigest()
    return TABLE_PREFIX + digest[:12]


def aliases(kql: str) -> tuple[str, ...]:
    """The aliases the query reads, in order of first call, each once."""
    if FUNCTION not in kql:
        return ()
    return tuple(dict.fromkeys(alias for alias, _, _ in _calls(kql)))


def rewrite(kql: str) -> str:
    """The text with every call replaced by its table's name, lines and columns kept."""
    if FUNCTION not in kql:
        return kql
    out = kql
    for alias, start, stop in reversed(_calls(kql)):
        original = out[start:stop]
        name = table_name(alias)
        kept_lines = "".join(c for c in original[: len(name)] if c in "\r\n")
        padding = "".join(c if c in "\r\n" else " " for c in original[len(name) :])
        out = out[:start] + name + kept_lines + padding + out[stop:]
    return out


def readable(message: str, kql: str) -> str:
    """``message`` with each watchlist table's name replaced by the call that made it."""
    if TABLE_PREFIX not in message:
        return message
    calls = {table_name(alias): f"{FUNCTION}('{alias}')" for alias in aliases(kql)}
    return _TABLE.sub(lambda m: calls.get(m.group(0), m.group(0)), message)


@lru_cache(maxsize=256)
def _calls(kql: str) -> tuple[tuple[str, int, int], ...]:
    """(alias, start, stop) of each call, stop past its closing parenthesis."""
    from duckdb_kql._antlr.KqlLexer import KqlLexer

    from edgewatch.hunt.extensions.source import _tokens

    tokens = _tokens(kql)
    found: list[tuple[str, int, int]] = []
    for i, token in enumerate(tokens):
        if token.type != KqlLexer.IDENTIFIER or token.text != FUNCTION:
            continue
        if i > 0 and tokens[i - 1].text == ".":
            continue  # a member of something else, not the function
        if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
            continue  # the bare name: duckdb-kql reports it
        arguments, close = _arguments(tokens, i + 2)
        if (
            close is None
            or len(arguments) != 1
            or len(arguments[0]) != 1
            or arguments[0][0].type != KqlLexer.STRINGLITERAL
        ):
            raise KqlUnsupportedError(
                f"function:{FUNCTION}",
                SourceSpan(token.line, token.column),
                "its one argument must be the watchlist alias as a string literal, "
                f"as in {FUNCTION}('VIPUsers')",
            )
        alias = _string(arguments[0][0].text)
        if not alias:
            raise KqlUnsupportedError(
                f"function:{FUNCTION}",
                SourceSpan(token.line, token.column),
                "its argument, the watchlist alias, is empty",
            )
        found.append((alias, token.start, close.stop + 1))
    return tuple(found)


def _arguments(tokens: list[Any], first: int) -> tuple[list[list[Any]], Any]:
    """The argument tokens split at top-level commas, and the closing parenthesis."""
    depth = 0
    arguments: list[list[Any]] = [[]]
    for token in tokens[first:]:
        if token.type == -1:
            break
        text = token.text
        if text in ("(", "[", "{"):
            depth += 1
        elif text in (")", "]", "}"):
            if depth == 0:
                return arguments, token
            depth -= 1
        elif text == "," and depth == 0:
            arguments.append([])
            continue
        arguments[-1].append(token)
    return arguments, None


def _string(text: str) -> str:
    from duckdb_kql.lower import _string_value

    if text[:1] in "hH" and text[1:2] in ("'", '"', "@"):
        text = text[1:]  # an obfuscated literal: the same value
    return _string_value(text)
