import sys

from logicrl.cli import main

sys.exit(main())
