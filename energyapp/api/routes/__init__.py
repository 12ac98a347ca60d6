"""API routers, one module per area. Routes are thin: they validate and call services."""
