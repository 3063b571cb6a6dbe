"""Binary frames the board speaks, declared once with construct and shared by drivers and emulators."""
