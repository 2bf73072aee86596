"""render stage (see DESIGN.md): hash-grid encoders, expression-conditioned NeRF, volume rendering."""
from __future__ import annotations

from emohead.render.hashgrid import HashGridEncoder, hashgrid_reference, level_resolutions

__all__ = ["HashGridEncoder", "hashgrid_reference", "level_resolutions"]
