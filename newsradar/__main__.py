import sys

from newsradar.cli import main

sys.exit(main())
