from lth.cli import main

raise SystemExit(main())
