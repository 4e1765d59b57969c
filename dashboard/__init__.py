"""Static dashboard and status page generated from the stack outputs.

`python -m dashboard build --outputs outputs.json --out site/` (see `__main__.py`);
`build_site()` in `build.py` is the same thing for Python callers and tests.
"""
from .build import build_site
from .site_model import InputError

__all__ = ["InputError", "build_site"]
