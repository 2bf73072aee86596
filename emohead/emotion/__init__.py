"""emotion stage (see DESIGN.md)."""
