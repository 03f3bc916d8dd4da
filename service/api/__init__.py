"""HTTP API v1: routes parse, authorize, call one function, return a schema."""
