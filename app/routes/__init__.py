"""HTTP routes, one module per concern. Routes stay thin: validate, call `index`, return a schema."""
