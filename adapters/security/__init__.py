"""Security adapters: RS256 signing keys, JWT issuing and verifying, refresh-token stores."""
