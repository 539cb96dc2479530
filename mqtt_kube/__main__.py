"""`python -m mqtt_kube` runs the command line."""

from mqtt_kube.cli.main import main

raise SystemExit(main())
