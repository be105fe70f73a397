"""The image fetcher's parts that need no socket: URL grammar, address policy (DNS mocked), the pinned
transport's set-up, content sniffing."""
