"""Pure Keptn domain rules (names, events, inbound-event validation, shipyard). No I/O in this package."""
