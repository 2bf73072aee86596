"""widgets stage (see DESIGN.md)."""
