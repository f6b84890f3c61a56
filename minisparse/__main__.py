"""``python -m minisparse train …`` (see ``minisparse.cli``)."""
import sys

from .cli import main

sys.exit(main())
