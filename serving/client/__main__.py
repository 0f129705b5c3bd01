"""``python -m serving.client ...`` (also ``python serving/client ...``):
see :mod:`serving.client.command`."""

from __future__ import annotations

import os
import sys

if __package__:
    from .command import main
else:
    # Run as a script (``python serving/client``): Python put serving/client/
    # first on sys.path. Replace it with the repository root so the package
    # imports by its full name and its modules cannot shadow top-level ones.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.dirname(os.path.dirname(_here)))
    from serving.client.command import main

if __name__ == "__main__":
    sys.exit(main())
