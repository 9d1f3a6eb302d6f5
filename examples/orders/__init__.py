"""The two-service example: customers (event sourced) and orders (sagas), see README.md."""
