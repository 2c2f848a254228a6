"""ADBC driver libraries are found from the driver packages' layout, not their private API."""

from __future__ import annotations

from pathlib import Path

import adbc_driver_manager.dbapi
import pytest

from connectors.base import SourceError
from connectors.drivers import driver_library, package_library


def test_a_driver_package_names_its_bundled_library_and_the_manager_loads_it() -> None:
    library = Path(driver_library("adbc_driver_sqlite"))
    assert library.name == "libadbc_driver_sqlite.so"
    assert library.parent.name == "adbc_driver_sqlite"
    with (
        adbc_driver_manager.dbapi.connect(driver=str(library)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)


@pytest.mark.parametrize("driver", ["/opt/drivers/libduckdb.so", "no_such_driver_pkg", "json"])
def test_paths_names_and_other_packages_go_to_the_driver_manager_unchanged(driver: str) -> None:
    assert driver_library(driver) == driver


def test_a_missing_driver_package_says_what_to_install() -> None:
    with pytest.raises(SourceError) as raised:
        package_library("adbc_driver_nowhere", "ADBC Nowhere driver")
    assert str(raised.value).startswith("the ADBC Nowhere driver is not installed")
    assert raised.value.hint == "pip install adbc-driver-nowhere"
