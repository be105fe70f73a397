"""One entry point per function (start, check, finalize, webhook intake): domain decisions applied
through adapters that are passed in."""
