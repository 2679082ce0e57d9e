"""``python -m harness.cli ...`` (as Accelerate launches it): the same as the ``texplain`` command."""

import sys

from harness.cli.main import main

sys.exit(main())
