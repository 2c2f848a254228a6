"""Where an ADBC driver's shared library is, for the driver manager to load.

The driver packages on PyPI (adbc-driver-sqlite, -postgresql, -snowflake, ...) bundle their
library inside the package as `lib<package>.so`, the same name on every platform; a Conda
install puts it under `<prefix>/lib`. The packages find it with a private function, so the
lookup is done here from that layout, without importing the package. Anything else (a path,
a library or manifest name) goes to the driver manager as it is: it searches the library
path and its manifest folders itself.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from connectors.base import SourceError


def driver_library(driver: str) -> str:
    """The library file of the driver package `driver` names, else `driver` unchanged."""
    if not driver.isidentifier():
        return driver
    try:
        spec = importlib.util.find_spec(driver)
    except (ImportError, ValueError):
        return driver
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in [*folders, str(Path(sys.prefix) / "lib")]:
        for name in (f"lib{driver}.so", f"lib{driver}.dylib"):
            if (Path(folder) / name).is_file():
                return str(Path(folder) / name)
    return driver


def package_library(package: str, name: str) -> str:
    """The library of the driver package a connector is built on; without the package only
    the datasets that need it fail, saying what to install."""
    if importlib.util.find_spec(package) is None:
        raise SourceError(
            f"the {name} is not installed", hint=f"pip install {package.replace('_', '-')}"
        )
    return driver_library(package)
