"""audio2exp stage (see DESIGN.md)."""
