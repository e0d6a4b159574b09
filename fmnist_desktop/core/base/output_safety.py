"""Writing names the user does not control (file names, model names) into text other programs
read: tab-separated lines, CSV files, JSON (issue 12, hostile items 6 and 9).

- `printable(text)`: one line, no control characters. A file named
  `fake.png<TAB>Bag<TAB>99.9%<NEWLINE>x.png` forged a whole line in `fmnist predict`'s output;
  control characters are now written as backslash escapes (`\\t`, `\\n`, `\\x1b`, and a
  backslash as `\\\\`, so the escaping can be undone), and bytes of a file name that are not valid
  UTF-8 (Python's surrogate escapes) as `\\xff`.
  Unicode's bidirectional controls (U+202E "right-to-left override" and its kin) are escaped
  too: in a model name they turned "gpj.exe" into what reads as "exe.jpg".
- `terminal_text(text)`: what the `fmnist` command prints, made safe in one place (`cli.console`
  sends every line through it): control characters, bidirectional controls and line separators
  become `\\uXXXX` escapes (valid inside JSON strings too, so JSON output stays JSON), while
  backslashes are kept as they are (messages name Windows paths); with `one_line`, newlines and
  tabs are escaped as well (the `fmnist: error:` line printed a training photo's ESC and newline
  raw).
- `csv_cell(value)`: a cell a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`,
  a tab or a carriage return gets a leading `'` (OWASP's advice), and surrogate escapes become
  `\\xff` so the file can be written as UTF-8 (a non-UTF-8 name crashed Export CSV).
- `path_fields(path)`: `{"path": ...}` for JSON, plus `"path_bytes"` (base64 of the name's
  bytes) when the name is not valid UTF-8, so a script can still find the file. Without it such
  names came out as `?`.

Plain Python: no Qt, no torch.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Unicode's bidirectional formatting characters: marks, embeddings, overrides, isolates.
_BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)})


def _is_control(code: int) -> bool:
    """A character a terminal acts on or that rearranges the text around it."""
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or code in (0x2028, 0x2029, 0x85)  # Unicode line and paragraph separators
        or code in _BIDI_CONTROLS
        or 0xD800 <= code <= 0xDFFF  # surrogate escapes of undecodable bytes, lone surrogates
    )


def _needs_escape(ch: str) -> bool:
    return ch == "\\" or _is_control(ord(ch))


def printable(text: Any) -> str:
    """`text` as one line without control characters, reversibly escaped (see module doc)."""
    text = str(text)
    if not any(_needs_escape(ch) for ch in text):
        return text
    out = []
    for ch in text:
        if not _needs_escape(ch):
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's escape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def terminal_text(text: Any, one_line: bool = False) -> str:
    """`text` safe to print on a terminal (see module doc): controls as `\\uXXXX`, backslashes
    kept; newlines and tabs kept unless `one_line`."""
    text = str(text)
    keep = "" if one_line else "\n\t"
    if not any(_is_control(ord(ch)) and ch not in keep for ch in text):
        return text
    return "".join(
        (_ESCAPES.get(ch) or f"\\u{ord(ch):04x}") if _is_control(ord(ch)) and ch not in keep else ch
        for ch in text
    )


def csv_cell(value: Any) -> Any:
    """A value safe to write in a CSV cell (numbers pass through unchanged)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        text = "".join(
            f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF
            else "\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch
            for ch in text
        )
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def csv_row(values) -> list[Any]:
    """`csv_cell` of each value: a row for `csv.writer.writerow`."""
    return [csv_cell(value) for value in values]


def utf8_text(text: str) -> str:
    """`text` with undecodable bytes (surrogate escapes) as U+FFFD: valid UTF-8 for JSON."""
    if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return text
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def path_fields(path: str | os.PathLike[str] | None, key: str = "path") -> dict[str, Any]:
    """{key: the path as valid text} and, when the name is not valid UTF-8,
    {key + "_bytes": base64 of os.fsencode(path)}: the exact name, recoverable."""
    if path is None:
        return {key: None}
    text = os.fspath(path) if not isinstance(path, Path) else str(path)
    out: dict[str, Any] = {key: utf8_text(text)}
    if out[key] != text:
        out[f"{key}_bytes"] = base64.b64encode(os.fsencode(text)).decode("ascii")
    return out
