"""newsearch: hybrid keyword + embedding search over news articles.

The public façade is :class:`search.engine.Engine`; everything else is a layer below it.
This package never imports Flask.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
