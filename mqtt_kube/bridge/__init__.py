"""The running bridge: bindings, command routing, the state board, the service, HTTP."""
