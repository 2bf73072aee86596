"""Your own talking videos -> a processed dataset; the same as ``emohead prepare video``.

    python data_prep/prepare_video.py --video me.mp4 --transcript me.txt --emotion neutral --out data/me

See data_prep/README.md for what makes a good recording; ``--help`` lists every option.
"""
import sys

from emohead.prepare.cli import main

if __name__ == "__main__":
    sys.exit(main(["video", *sys.argv[1:]]))
