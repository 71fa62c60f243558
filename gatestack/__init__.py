"""gatestack: render, prove and smoke-test the gateway a stack declares."""
