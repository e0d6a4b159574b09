"""Widgets the pages share: banners, Yes/No questions, drop zone, image views, test-image
galleries, probability bars."""
