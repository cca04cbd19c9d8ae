"""Two fixes to a query's text before duckdb-kql reads it, positions kept.

* A bare ``| serialize`` (no columns) is valid Kusto the parser refuses; it is blanked
  out (the order it freezes is restated by each ``next``/``prev``/``row_number``, see
  ``window.py``). ``serialize x = …`` is ``extend`` plus that order, and is read as one.
* A one-level ``top-nested [N] of Column by Aggregate [asc|desc]`` is
  ``summarize aggregated_Column = Aggregate by Column | top N by aggregated_Column``:
  the same rows and, as Kusto names them, the same columns. Several levels or
  ``with others`` are left for duckdb-kql to refuse.
* A ``let`` function with a tabular body (``let Events = (t:datetime) { T | where … };``),
  which duckdb-kql only accepts as a stored function, is lifted out of the text and
  handed over as one. Kusto expands both kinds the same way at the call site.

Replaced text becomes spaces (newlines kept), so an error still points at the line and
column the user wrote.
"""

from __future__ import annotations

from typing import Any

from antlr4 import CommonTokenStream, InputStream
from duckdb_kql._antlr.KqlLexer import KqlLexer
from duckdb_kql.errors import KqlError, KqlUnsupportedError

MAX_LIFTED = 16


def _blank(text: str, start: int, stop: int) -> str:
    """``text`` with [start, stop) replaced by spaces, newlines kept."""
    middle = "".join(c if c in "\r\n" else " " for c in text[start:stop])
    return text[:start] + middle + text[stop:]


def fix_serialize(text: str) -> str:
    if "serialize" not in text:
        return text
    tokens = _tokens(text)
    out = text
    for i, token in enumerate(tokens):
        if token.type != KqlLexer.SERIALIZE or i == 0 or tokens[i - 1].text != "|":
            continue
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if after is None or after.type == -1 or after.text in ("|", ";", ")"):
            out = _blank(out, tokens[i - 1].start, token.stop + 1)
        else:
            out = out[: token.start] + "extend   " + out[token.stop + 1 :]
    return out


def _tokens(text: str) -> list[Any]:
    lexer = KqlLexer(InputStream(text))
    lexer.removeErrorListeners()
    stream = CommonTokenStream(lexer)
    stream.fill()
    return [t for t in stream.tokens if t.channel == 0]


def fix_top_nested(text: str) -> str:
    if "top-nested" not in text:
        return text
    tokens = _tokens(text)
    edits: list[tuple[int, int, str]] = []
    for i, token in enumerate(tokens):
        if token.type != KqlLexer.TOP_NESTED or i == 0 or tokens[i - 1].text != "|":
            continue
        depth = 0
        end = i + 1
        while end < len(tokens) and tokens[end].type != -1:
            t = tokens[end].text
            if t in ("(", "["):
                depth += 1
            elif t in (")", "]"):
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and t in ("|", ";", ","):
                break
            end += 1
        part = tokens[i + 1 : end]
        if end < len(tokens) and tokens[end].text == ",":
            continue  # several levels
        j = 0
        count = ""
        if j < len(part) and part[j].type == KqlLexer.LONGLITERAL:
            count = part[j].text
            j += 1
        if not (
            j + 3 < len(part)
            and part[j].type == KqlLexer.OF
            and part[j + 1].type == KqlLexer.IDENTIFIER
            and part[j + 2].type == KqlLexer.BY
        ):
            continue
        column = part[j + 1].text
        rest = part[j + 3 :]
        direction = "desc"
        if rest and rest[-1].type in (KqlLexer.ASC, KqlLexer.DESC):
            direction = rest[-1].text.lower()
            rest = rest[:-1]
        if not rest or any(t.text.lower() in ("with", "others") for t in rest):
            continue
        aggregate = text[rest[0].start : rest[-1].stop + 1]
        name = f"aggregated_{column}"
        replacement = f"summarize {name} = {aggregate} by {column}"
        if count:
            replacement += f" | top {count} by {name} {direction}"
        else:
            replacement += f" | sort by {name} {direction}"
        last = part[-1]
        edits.append((token.start, last.stop + 1, replacement))
    for start, stop, replacement in reversed(edits):
        text = text[:start] + replacement + text[stop:]
    return text


def _let_function(text: str, name: str) -> tuple[int, int, str] | None:
    """(start, stop, definition) of the top-level ``let name = (…) { … }`` statement."""
    from duckdb_kql import lower as kql_lower
    from duckdb_kql.parser import parse

    tree = parse(text).tree
    found: list[Any] = []

    def walk(node: Any) -> None:
        if kql_lower._cls(node) == "LetFunctionDeclaration":
            names = kql_lower._find_names(kql_lower._rule_children(node)[0])
            if names and names[0] == name:
                found.append(node)
                return
        for kid in getattr(node, "children", None) or []:
            walk(kid)

    walk(tree)
    if not found:
        return None
    decl = found[0]
    params = ""
    body = ""
    for kid in kql_lower._rule_children(decl):
        cls = kql_lower._cls(kid)
        if cls == "LetFunctionParameterList":
            params = text[kid.start.start : kid.stop.stop + 1]
        elif cls == "LetFunctionBody":
            body = text[kid.start.start : kid.stop.stop + 1]
    if not body:
        return None
    start, stop = decl.start.start, decl.stop.stop + 1
    rest = text[stop:]
    stripped = rest.lstrip()
    if stripped.startswith(";"):
        stop += len(rest) - len(stripped) + 1
    return start, stop, f"function {name}({params}) {body}"


def lift_tabular_functions(text: str, attempt: Any) -> Any:
    """Lift every tabular ``let`` function ``attempt(text, definitions)`` refuses.

    ``attempt`` lowers the text with the definitions so far (its result is returned)
    or raises duckdb-kql's error; each "tabular body" refusal names the function to
    lift next.
    """
    definitions: list[str] = []
    for _ in range(MAX_LIFTED):
        try:
            return attempt(text, definitions)
        except KqlUnsupportedError as exc:
            construct = exc.construct or ""
            hint = exc.hint or ""
            if not construct.startswith("let function:") or not (
                "tabular" in hint or "binds a table" in hint
            ):
                raise
            name = construct.split(":", 1)[1]
            try:
                lifted = _let_function(text, name)
            except KqlError:
                raise exc from None
            if lifted is None:
                raise
            start, stop, definition = lifted
            text = _blank(text, start, stop)
            definitions.append(definition)
    return attempt(text, definitions)
