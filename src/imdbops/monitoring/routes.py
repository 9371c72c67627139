"""The monitoring page (``/monitoring``) and its JSON endpoints, mounted by the serving app."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
