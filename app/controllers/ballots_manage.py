"""Ballot pages and API for chairs and auditors: define, check, open, close; results with
turnout and charts; participation list and exports."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
API_ROUTES: list[Any] = []
