"""``python -m gmcrm_sandbox``."""

from .cli import main

raise SystemExit(main())
