"""`python -m mqtt_kube` runs the command line."""

from mqtt_kube.cli import main

raise SystemExit(main())
