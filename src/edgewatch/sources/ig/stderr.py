"""Give IG's stderr lines the log level IG meant.

IG logs through logrus, which prints three shapes depending on where stderr goes and
what IG did before: ``WARN[0000] msg`` on a terminal, ``time=".." level=warning
msg=".."`` on a pipe (our case), and JSON objects once ``ig daemon`` has started a
headless instance (the instance manager switches the global formatter to JSON and adds
``"type":"gadget-log"``). Cobra prints fatal command errors as ``Error: ...``. Keeping
IG's level means a node's warnings show up as warnings in edgewatch's log, and a
crash's last words as errors.
"""

from __future__ import annotations

import json
import logging
import re

_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.ERROR,
    "panic": logging.ERROR,
}
_TTY_PREFIX = {
    "TRAC": "trace",
    "DEBU": "debug",
    "INFO": "info",
    "WARN": "warning",
    "ERRO": "error",
    "FATA": "fatal",
    "PANI": "panic",
}
_TTY_RE = re.compile(r"^([A-Z]{4})\[[^\]]*\]\s*(.*)$")
_TEXT_LEVEL_RE = re.compile(r'(?:^|\s)level=("?)(\w+)\1')
_TEXT_MSG_RE = re.compile(r'(?:^|\s)msg=(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def classify(line: str) -> tuple[int, str]:
    """The logging level and the message of one stderr line of ig or gadgetctl."""
    text = line.strip()
    if text.startswith("{"):
        parsed = _json_record(text)
        if parsed is not None:
            return parsed
    match = _TTY_RE.match(text)
    if match and match[1] in _TTY_PREFIX:
        return _LEVELS[_TTY_PREFIX[match[1]]], match[2]
    level = _TEXT_LEVEL_RE.search(text)
    if level and level[2].lower() in _LEVELS:
        msg = _TEXT_MSG_RE.search(text)
        message = text
        if msg:
            message = msg[1].replace('\\"', '"') if msg[1] is not None else msg[2]
        return _LEVELS[level[2].lower()], message
    if text.startswith(("Error:", "panic:", "fatal error:")):
        return logging.ERROR, text
    return logging.INFO, text


def _json_record(text: str) -> tuple[int, str] | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    level = _LEVELS.get(str(obj.get("level", "info")).lower(), logging.INFO)
    message = str(obj.get("msg", text))
    instance = obj.get("instanceName") or obj.get("instanceID")
    if instance:
        message = f"instance {instance}: {message}"
    return level, message
