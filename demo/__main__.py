from lookout.demo.cli import main

raise SystemExit(main())
