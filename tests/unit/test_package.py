from __future__ import annotations

import subprocess
import sys

import pytest

import beat_store


def test_importing_beat_store_imports_no_models_and_needs_no_django_setup() -> None:
    code = (
        "import sys, beat_store\n"
        "assert 'beat_store.models' not in sys.modules, 'beat_store.models was imported'\n"
        "print(beat_store.__version__)\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env={})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == beat_store.__version__


def test_unknown_attributes_of_beat_store_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="does_not_exist"):
        beat_store.does_not_exist  # noqa: B018


def test_a_plain_install_can_use_a_redis_broker() -> None:
    """kombu 5.7's Redis transport imports ``packaging`` without declaring it; beat_store declares it, so the
    README's Redis example works from ``pip install beat_store`` alone (found by running it in a fresh venv)."""
    from importlib.metadata import requires

    requirements = requires("beat_store") or []

    assert any(requirement.split(">")[0].strip() == "packaging" for requirement in requirements)
