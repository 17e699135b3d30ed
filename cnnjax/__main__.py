"""`python -m cnnjax ...`: the `cnnjax` command (cnnjax.main), for environments without the script on PATH.

It settles the process as the script does: cnnjax.fast.process may re-execute Python once, as
`python -m cnnjax.main ...`, the same command.
"""

import sys

from cnnjax.main import main

if __name__ == "__main__":
  sys.exit(main())
