"""Text from a board shown as it is: every character that would be invisible, dropped or
reordered by a browser or a terminal is written as a visible escape.

    >>> visible("CB-WS1-00\\x000123"), visible("A\\nB"), visible("\\u202eLIAF")
    ('CB-WS1-00\\\\x000123', 'A\\\\nB', '\\\\u202eLIAF')
    >>> visible("CB-WS1-000123 "), visible("CB-WS1  000123"), visible("one space")
    ('CB-WS1-000123\\\\x20', 'CB-WS1\\\\x20\\\\x20000123', 'one space')

A NUL is dropped when a page is rendered, a newline makes two identities read as one line, ESC
drives a terminal, and the bidirectional overrides (U+202A-U+202E, U+2066-U+2069) make a page show
text in another order than it holds. Whatever `str.isprintable` refuses (control, format,
separator and unassigned characters) is escaped, and so is the backslash itself, so that an
escape shown can never be mistaken for the characters `\\`, `x`, `0`, `0` a board really sent.
Spaces that a page collapses or a reader cannot see (leading, trailing, two or more in a row)
are escaped too, so `CB-WS1-000123 ` never reads as the genuine `CB-WS1-000123`; text shown as
typed (`keep_spaces`, a <pre> block) keeps its indentation.
"""

from __future__ import annotations

import re

_HIDDEN_SPACES = re.compile(r"^ +| +$| {2,}")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else (
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


def visible(value: object, keep_spaces: bool = False) -> str:
    """`value` as text in which no character hides: see the module docstring."""
    text = "" if value is None else str(value)
    if not (text.isprintable() and "\\" not in text):
        text = "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)
    if keep_spaces:
        return text
    return _HIDDEN_SPACES.sub(lambda spaces: "\\x20" * len(spaces[0]), text)


def visible_lines(text: object) -> str:
    """Multi-line text (a traceback, a log) with each line `visible` and its line breaks kept;
    spaces are kept as they are: a <pre> or a terminal shows them."""
    return "\n".join(visible(line, keep_spaces=True)
                     for line in ("" if text is None else str(text)).split("\n"))
