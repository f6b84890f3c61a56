"""``python -m minisparse train …`` (see ``minisparse.cli``)."""
import sys

from .cli import main
from .runtime import retain_freed_memory

retain_freed_memory()           # keep freed memory for reuse: a process-wide setting, entry points only
sys.exit(main())
