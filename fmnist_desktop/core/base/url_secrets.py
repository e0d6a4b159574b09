"""Passwords in storage URLs (`fmnist tune --storage postgresql://me:pw@db/tune`) never reach a
message or a log: `mask_passwords` replaces the password of every URL-like word in a text with
"***". Written as a pattern, not a URL parser, so it also masks URLs no parser accepts (a bad
port "127.0.0.1:abc", an unclosed "[::1") — those are the ones that end up in error messages.
Torch-free and Qt-free.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme ":" slashes user ":" password "@": the password runs to the last "@" of the word, so a
# password holding "@" is hidden whole (at worst part of the host is hidden too).
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:/*[^:/@\s'\"]*):(?P<password>[^\s'\"]*)@")


def mask_passwords(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***."""
    if "@" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
