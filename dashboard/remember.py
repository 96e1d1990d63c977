"""Form values that survive navigation and reloads, and travel in the URL.

Streamlit forgets a widget's value when its page is left; each form widget here is created through
`remembered`, which starts it from this session's last value, else the page URL's (a bookmark or a
shared link), else the default, and writes its value back to both. A value from the URL that does not
fit the widget (a word where a number belongs, an unknown option) is ignored with a warning.
"""
from __future__ import annotations

import streamlit as st

SAVED = "form-values"


def _parse(text: str, kind: str, options):
    if kind == "int":
        value = int(text)
    elif kind == "float":
        value = float(text)
    elif kind == "list":
        value = [v for v in text.split(",") if v]
    elif kind == "intlist":
        value = [int(v) for v in text.split(",") if v]
    elif kind == "floatlist":
        value = [float(v) for v in text.split(",") if v]
    else:
        value = text
    if options is not None:
        allowed = list(options)
        if kind in ("list", "intlist", "floatlist"):
            if not all(v in allowed for v in value):
                raise ValueError(text)
        elif kind == "float":  # floats from a list of choices: the nearest spelling in the list
            value = next((o for o in allowed if abs(o - value) <= 1e-12 * max(1.0, abs(o))), None)
            if value is None:
                raise ValueError(text)
        elif value not in allowed:
            raise ValueError(text)
    return value


def _to_url(value, kind: str) -> str:
    # floats in their shortest exact spelling (repr): "0.15", and 0.1 + 0.05 as what it is, so a link reopens
    # exactly the value it was made from (":g" kept 6 digits)
    if kind in ("list", "intlist", "floatlist"):
        return ",".join(map(repr if kind == "floatlist" else str, value))
    return repr(float(value)) if kind == "float" else str(value)


def remembered(widget, label: str, *, key: str, default, kind: str = "str", options=None, **kwargs):
    """`widget(label, key=key, **kwargs)` whose value is kept across pages, reloads and links."""
    saved = st.session_state.setdefault(SAVED, {})
    if key not in st.session_state:
        value = saved.get(key, default)
        if key not in saved and key in st.query_params:
            try:
                value = _parse(st.query_params[key], kind, options)
            except ValueError:
                st.warning(f"The link's value {st.query_params[key]!r} for “{label}” does not fit; the default "
                           f"is used.")
        st.session_state[key] = value
    if options is not None:
        kwargs["options"] = options
    if widget is st.number_input and kind == "int":
        kwargs.setdefault("step", 1)  # whole-number steps make Streamlit's widget an integer one ("7", not "7.00")
    value = widget(label, key=key, **kwargs)
    saved[key] = value
    st.query_params[key] = _to_url(value, kind)
    return value
