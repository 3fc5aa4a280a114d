"""One module per capability. A service call is one transaction (a unit of work)."""
