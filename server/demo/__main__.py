"""``python -m server.demo`` (``make demo``): run the demo's scenario."""

import sys

from server.demo.scenario import main

sys.exit(main())
