"""synth stage (see DESIGN.md)."""
