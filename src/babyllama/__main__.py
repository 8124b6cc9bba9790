import sys

from babyllama.cli import main

sys.exit(main())
