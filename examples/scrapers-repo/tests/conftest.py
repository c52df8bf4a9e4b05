from pathlib import Path

import pytest

FILES = Path(__file__).parent / "files"


@pytest.fixture
def fixture_text():
    def read(name: str) -> str:
        return (FILES / name).read_text(encoding="utf-8")

    return read
