"""data stage (see DESIGN.md)."""
