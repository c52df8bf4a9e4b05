"""Fixwright's pytest plugin for gate runs on some scrapers.

pytest builds a collection node for every file of every directory it walks
on the way to the test files it was given, so a run of one test file in a
directory of thousands costs as much collecting as the whole directory.
This plugin tells pytest to ignore every path that is neither one of the
test files listed in FIXWRIGHT_PYTEST_SCOPE (relative to the working
directory, separated by os.pathsep), nor a directory holding one, nor a
conftest.py or __init__.py. Nothing the listed tests need is skipped: their
conftest.py files and packages are still collected, and pytest itself only
ever runs the files it was given. Needs pytest 7 or newer.
"""

import os
from pathlib import Path

import pytest

_KEEP = None


def pytest_configure(config):
    global _KEEP
    listed = os.environ.get("FIXWRIGHT_PYTEST_SCOPE")
    if not listed:
        return
    here = Path(config.invocation_params.dir)
    keep = set()
    for rel in listed.split(os.pathsep):
        if rel:
            path = here / rel
            keep.add(path)
            keep.update(path.parents)
    _KEEP = keep


@pytest.hookimpl(tryfirst=True)
def pytest_ignore_collect(collection_path, config):
    if _KEEP is None:
        return None
    if collection_path in _KEEP or collection_path.name in ("conftest.py", "__init__.py"):
        return None
    return True
