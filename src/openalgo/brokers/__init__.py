"""Venues behind one async Protocol: real brokers, the simulator and the sandbox."""
