import sys

from facepay.cli import main

sys.exit(main())
