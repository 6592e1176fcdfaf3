"""mmwe phrase index: embedding artifacts, phrase mining, FAISS indexes and search.

Torch-free on purpose: the serving path (`app/`) imports this package and nothing heavier.
CLI: `python -m index --help`.

Importing the package sets OMP_WAIT_POLICY=PASSIVE unless the environment already sets it (it must be set
before FAISS's OpenMP runtime starts). On a busy machine the default (spinning) policy made a 2-thread
single-query search 25x slower (44 ms instead of 1.7 ms) and a 1,000-query batch 3x slower (docs/index.md).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
