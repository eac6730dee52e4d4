"""Local stand-ins for the outside world: sample TLC files, an HTTP mirror and services."""
