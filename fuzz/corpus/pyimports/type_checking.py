from __future__ import annotations
import os, sys as system
from . import sibling
from ..parent import (a, b as c)
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from collections import OrderedDict
if typing.TYPE_CHECKING: import json
try:
    import tomllib
except ImportError:
    import tomli as tomllib
x = f"{os.sep!r:>{10}}" + rb'\x00' + """
import not_an_import
"""
lazy import deferred
def f(*args, **kwargs) -> None:
    import inside; return lambda: -(-x) ** 2
