"""``python -m biometrics``: see biometrics.cli."""

from biometrics.cli import main

raise SystemExit(main())
