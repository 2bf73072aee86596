"""Raw MEAD -> a processed dataset; the same as ``emohead prepare mead``.

    python data_prep/prepare_mead.py --raw /data/MEAD --actors M003 --out data/mead_M003

See data_prep/README.md for how to get MEAD and lay it out; ``--help`` lists every option.
"""
import sys

from emohead.prepare.cli import main

if __name__ == "__main__":
    sys.exit(main(["mead", *sys.argv[1:]]))
