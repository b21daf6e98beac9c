"""Autorun files: Windows `autorun.inf` and the freedesktop autorun prompt."""
