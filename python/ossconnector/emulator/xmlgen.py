"""Tiny XML writer for OSS-shaped responses (no namespaces, UTF-8).

Contract: :func:`document` renders a root element built from nested
``(tag, value)`` tuples/lists into bytes with the
``<?xml version="1.0" encoding="UTF-8"?>`` prologue OSS uses.  A value is
either text (str/int/bool; bools render as ``true``/``false``), ``None``
(element omitted) or a list of child ``(tag, value)`` pairs.
"""

from xml.sax.saxutils import escape as _escape

PROLOGUE = '<?xml version="1.0" encoding="UTF-8"?>\n'


def text(value):
    """Escape a text value for element content."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return _escape(str(value))


def _render(parts, tag, value):
    if value is None:
        return
    if isinstance(value, list):
        parts.append("<%s>" % tag)
        for child_tag, child_value in value:
            _render(parts, child_tag, child_value)
        parts.append("</%s>" % tag)
    else:
        parts.append("<%s>%s</%s>" % (tag, text(value), tag))


def element(tag, value):
    """Render one element (without prologue) to str."""
    parts = []
    _render(parts, tag, value)
    return "".join(parts)


def document(tag, children):
    """Render a whole document; ``children`` is a list of ``(tag, value)``."""
    parts = [PROLOGUE]
    _render(parts, tag, children)
    return "".join(parts).encode("utf-8")
