"""Emulated board and instruments: one board model, several faces (serial, radio, power)."""
