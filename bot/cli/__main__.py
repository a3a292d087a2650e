"""`python -m bot.cli`: the `entasis` command."""

import sys

from bot.cli import app

sys.exit(app(prog_name="entasis"))
