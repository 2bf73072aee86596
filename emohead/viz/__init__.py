"""viz stage (see DESIGN.md)."""
