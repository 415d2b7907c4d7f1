"""``python -m ossconnector.cli`` is the ``ossc`` command."""

import sys

from . import main

sys.exit(main())
