from openalgo.cli import main

raise SystemExit(main())
