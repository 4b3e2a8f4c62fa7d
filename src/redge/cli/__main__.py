"""`python -m redge.cli ...`: the same command line as `redge` (also what torchrun starts)."""
import sys

from redge.cli import main

sys.exit(main())
