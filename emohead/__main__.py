"""``python -m emohead`` is the ``emohead`` command."""
import sys

from .cli import main

sys.exit(main())
