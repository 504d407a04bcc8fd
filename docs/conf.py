"""Sphinx configuration of beat_store's documentation (MyST Markdown, built-in alabaster theme).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html``. Everything builds offline: no
intersphinx, no Graphviz; the tick diagram is plain text under ``docs/diagrams/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

# autodoc imports beat_store.api, which imports the models: Django must be set up first, with the test
# settings (SQLite, no server needed; nothing is queried while documenting).
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from beat_store import __version__  # noqa: E402  (needs django.setup() above)

project = "beat_store"
author = "beat_store contributors"
copyright = "beat_store contributors"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "diagrams", "screenshots"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True

html_theme = "alabaster"
html_title = f"beat_store {release}"
html_theme_options = {"description": "Celery beat schedules in Django, with APScheduler timing.", "fixed_sidebar": True}
