from lookout.stack.cli import main

raise SystemExit(main())
