"""Dashboard routes (being written by the dashboard owner)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["dashboard"])
