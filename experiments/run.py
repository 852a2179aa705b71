"""Run the course's experiments from a checkout: the same as `jaxdl experiments ...`.

    python experiments/run.py --list
    python experiments/run.py activation_statistics mnist_course_recipe --data-dir DIR
    python experiments/run.py --all --quick

The experiments themselves live in `jaxdl/experiments/` (one module per claim of the course).
"""

import sys

from jaxdl.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiments", *sys.argv[1:]]))
