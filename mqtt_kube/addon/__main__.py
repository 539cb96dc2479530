"""`python3 -m mqtt_kube.addon`: what the Home Assistant add-on image runs."""

import sys

from mqtt_kube.addon.main import main

sys.exit(main())
