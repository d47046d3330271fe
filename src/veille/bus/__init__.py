"""Buses joining the stages: in-process queues by default, NATS JetStream to scale out."""
