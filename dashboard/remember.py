"""Form values that survive navigation and reloads, and travel in the URL.

Streamlit forgets a widget's value when its page is left; each form widget here is created through
`remembered`, which starts it from this session's last value, else the page URL's (a bookmark or a
shared link), else the default, and writes its value back to both. A value from the URL that does not
fit the widget (a word where a number belongs, an unknown option) is ignored with a warning.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.text import plain

SAVED = "form-values"


def _parse(text: str, kind: str, options):
    value: Any
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


def out_of_range(value, kind: str, options, kwargs: dict) -> str | None:
    """Why `value` cannot be the widget's value (outside its min_value/max_value or its choices, too long for
    its max_chars), or None when it fits: checked before the widget is drawn, since Streamlit raises on a
    value outside a slider's range."""
    values = value if isinstance(value, (list, tuple)) else [value]
    if options is not None and not all(v in list(options) for v in values):
        return "is not one of the choices"
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v:  # NaN fits no range
                return "is not a number"
            if low is not None and v < low:
                return f"is below the smallest allowed, {low}"
            if high is not None and v > high:
                return f"is above the largest allowed, {high}"
        elif kind in ("int", "float") or low is not None or high is not None:
            return "is not a number"
    if kwargs.get("max_chars") is not None and isinstance(value, str) and len(value) > kwargs["max_chars"]:
        return f"is longer than {kwargs['max_chars']} characters"
    return None


ALL = "all"  # a choice of every option, in the URL: the options of the day, not those of the day it was made


def remembered(
    widget, label: str, *, key: str, default, kind: str = "str", options=None, everything: bool = False, **kwargs
):
    """`widget(label, key=key, **kwargs)` whose value is kept across pages, reloads and links.

    `everything` (a multiselect of `options`): a value holding every option is remembered as the intent "all",
    in this session and in the URL (`key=all`), so an option that appears later (a newer seed) is chosen too;
    a value choosing some is remembered as those."""
    saved = st.session_state.setdefault(SAVED, {})
    intent, known, vanished = f"{key}#all", f"{key}#options", f"{key}#vanished"
    appeared = set(options or []) - set(saved.get(known, options or []))
    emptied = bool(options) and saved.pop(vanished, False)  # another filter had left it no option until now
    if everything and options and saved.get(intent) and (appeared or emptied):
        # every option was chosen, and options appeared since (a newer seed, a new series), or came back after
        # another filter had removed them all: they are chosen too (the user's own change of the widget, with
        # the same options, is left as it is)
        if key in st.session_state:
            back = set(options) if emptied else appeared
            st.session_state[key] = sorted(set(st.session_state[key]) | back, key=list(options).index)
        if key in saved:
            saved[key] = list(options)
    if key not in st.session_state:
        value = saved.get(key, default)
        if key not in saved and key in st.query_params:
            text = st.query_params[key]
            try:
                value = (
                    list(options) if everything and options is not None and text == ALL else _parse(text, kind, options)
                )
                problem = out_of_range(value, kind, options, kwargs)
            except (ValueError, OverflowError):
                problem = "does not fit"
            if problem is not None:
                # the note quotes the link's text as code: nothing in it is rendered as markdown
                st.warning(f"The link's value {plain(repr(text[:80]))} for “{label}” {problem}; the default is used.")
                value = default
        elif out_of_range(value, kind, options, kwargs) is not None:
            value = default  # a value kept from another form whose range differed: the default, quietly
        st.session_state[key] = value
    elif out_of_range(st.session_state[key], kind, options, kwargs) is not None:
        st.session_state[key] = default  # the widget's range changed under its kept value (another model chosen)
    if options is not None:
        kwargs["options"] = options
    if widget is st.number_input and kind == "int":
        kwargs.setdefault("step", 1)  # whole-number steps make Streamlit's widget an integer one ("7", not "7.00")
    value = widget(label, key=key, **kwargs)
    saved[key] = value
    if everything and options is not None:
        if len(options):
            saved[intent] = set(value) == set(options)
            saved[known] = list(options)
        else:  # no option to choose (another filter removed them all): the intent is kept for their return
            saved[vanished] = True
        st.query_params[key] = ALL if saved.get(intent) else _to_url(value, kind)
    else:
        st.query_params[key] = _to_url(value, kind)
    return value
