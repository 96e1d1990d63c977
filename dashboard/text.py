"""Text from outside the code (store files, exceptions quoting them, URL values, a user's folder names) shown
inside Streamlit's markdown: every character that markdown, LaTeX or a link could take as syntax is escaped,
so the text reads as it is written. Streamlit escapes HTML; markdown it renders."""

from __future__ import annotations

import string

# CommonMark lets any ASCII punctuation be escaped with a backslash; escaping all of it also breaks
# autolinks ("https\:", "www\.") and Streamlit's LaTeX ("\$").
_ESCAPE = str.maketrans({c: "\\" + c for c in string.punctuation})


def plain(value) -> str:
    """`value` as markdown that renders as its own text."""
    return str(value).translate(_ESCAPE)
