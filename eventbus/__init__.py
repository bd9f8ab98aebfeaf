"""NATS JetStream: the durable log of every Keptn CloudEvent (stream, connection, publisher)."""
