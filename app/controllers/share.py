"""Pages for share (issue 5)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
