"""`python -m redge ...`: the command line, also what `torchrun --nproc-per-node N -m redge sweep ...` starts."""
import sys

from redge.cli import main

sys.exit(main())
