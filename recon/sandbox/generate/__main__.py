"""``python -m recon.sandbox.generate``."""

import sys

from recon.sandbox.generate.sample_files import main

sys.exit(main())
