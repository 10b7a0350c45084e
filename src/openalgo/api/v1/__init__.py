"""OpenAlgo's ``/api/v1`` endpoints, one module per area."""
