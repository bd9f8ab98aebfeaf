"""Append-only JSON-lines files through which executor processes report to the workload.

A line is written and flushed per record, so a process killed with -9 loses at most the line it was writing;
readers skip such a torn line instead of failing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO


class Journal:
    def __init__(self, path: Path) -> None:
        self._file: TextIO = path.open("a", encoding="utf-8")
        self._pid = os.getpid()

    def write(self, rec: str, **fields: Any) -> None:
        line = json.dumps({"rec": rec, "pid": self._pid, "t": time.time(), **fields}, separators=(",", ":"))
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # torn by a kill -9
    return records
