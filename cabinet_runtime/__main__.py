"""``python -m cabinet_runtime`` is the ``cabinet-runtime`` command."""

from cabinet_runtime.cli import main

raise SystemExit(main())
