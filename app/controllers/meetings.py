"""Pages for meetings (issue 5)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
