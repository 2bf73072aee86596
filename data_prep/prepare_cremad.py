"""Raw CREMA-D -> a processed dataset; the same as ``emohead prepare crema-d``.

    python data_prep/prepare_cremad.py --raw /data/CREMA-D --actors 1001 1002 --out data/cremad

See data_prep/README.md for how to get CREMA-D; ``--help`` lists every option.
"""
import sys

from emohead.prepare.cli import main

if __name__ == "__main__":
    sys.exit(main(["crema-d", *sys.argv[1:]]))
