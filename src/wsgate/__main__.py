"""``python -m wsgate`` runs the command line."""

from __future__ import annotations

import sys

from wsgate.cli import main

sys.exit(main())
