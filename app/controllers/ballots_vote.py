"""Ballot pages and API for voters, proxy holders and grid members: my open ballots, vote,
confirm, receipt; paper entry and proxies."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
API_ROUTES: list[Any] = []
