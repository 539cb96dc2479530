"""Pure building blocks, no I/O: errors, kinds, loci, payloads, value maps, templates, YAML."""
