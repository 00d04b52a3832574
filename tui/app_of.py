"""`app_of(node)`: the CitywatchApp a screen or widget runs in, typed.

Screens and widgets cannot import tui.app at module level (it imports them); this is the
one place that imports it late.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.dom import DOMNode

if TYPE_CHECKING:
    from tui.app import CitywatchApp


def app_of(node: DOMNode) -> CitywatchApp:
    """The app `node` runs in; an AssertionError if that is not a CitywatchApp."""
    from tui.app import CitywatchApp

    app = node.app
    assert isinstance(app, CitywatchApp)
    return app
