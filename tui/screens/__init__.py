"""Screens of the citywatch TUI."""
