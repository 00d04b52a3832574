"""Widgets of the citywatch TUI."""
