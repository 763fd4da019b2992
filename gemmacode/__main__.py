from gemmacode.cli import main

raise SystemExit(main())
