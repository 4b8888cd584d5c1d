"""Reading log lines back, strictly, as an operator's tool would: logfmt key=value pairs, one
record per line. Written apart from logconfig.py, so a mistake there is not mirrored here."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from logconfig import structured_handler

PAIR = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\\x00-\x1f]|\\.)*"|[^\s"=\\]+)')
FIRST_KEYS = ["time", "process", "level", "logger", "msg"]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def parse_line(line: str) -> dict[str, str]:
    """One line as a record; ValueError when it is not exactly key=value pairs, one space apart,
    starting with time, process, level, logger and msg."""
    record: dict[str, str] = {}
    position = 0
    while True:
        match = PAIR.match(line, position)
        if match is None:
            raise ValueError(f"not logfmt at {position}: {line!r}")
        key, raw = match.groups()
        if key in record:
            raise ValueError(f"key {key} twice: {line!r}")
        record[key] = json.loads(raw) if raw.startswith('"') else raw  # logfmt's escapes are JSON's
        position = match.end()
        if position == len(line):
            break
        if line[position] != " ":
            raise ValueError(f"no space between pairs at {position}: {line!r}")
        position += 1
    if list(record)[:5] != FIRST_KEYS or not TIME.fullmatch(record["time"]):
        raise ValueError(f"a record starts with {FIRST_KEYS}: {line!r}")
    return record


def parse_lines(text: str) -> list[dict[str, str]]:
    # splitlines: any character a reader takes for a line break (\u2028, \x85...) breaks a record.
    return [parse_line(line) for line in text.splitlines() if line]


class Captured:
    """What the process's handler wrote, as text and as records."""

    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self, msg: str | None = None) -> list[dict[str, str]]:
        return [r for r in parse_lines(self.text) if msg is None or r["msg"] == msg]


@pytest.fixture
def log_lines():
    """The handler every process writes through, on the root logger at INFO, into a buffer."""
    stream = io.StringIO()
    handler = structured_handler("test", secrets=(), stream=stream)
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield Captured(stream)
    root.removeHandler(handler)
    root.setLevel(saved_level)
