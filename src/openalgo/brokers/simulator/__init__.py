"""The built-in simulated market: a generated instrument master and seeded price processes."""
