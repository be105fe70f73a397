"""The image fetcher against loopback servers: pinning, TLS, the watchdog, and hosts that misbehave."""
