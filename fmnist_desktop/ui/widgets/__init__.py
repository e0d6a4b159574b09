"""Reusable widgets: drop zone, image views, probability chart."""
