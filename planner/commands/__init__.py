"""One module per CLI command. Keep imports here light: heavy modules load inside the command body."""
