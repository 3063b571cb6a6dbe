"""Binary frames the board speaks, declared once with construct for drivers and emulators."""
