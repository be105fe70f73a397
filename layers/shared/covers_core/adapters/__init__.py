"""Adapters: AWS services, the vendor API and image hosts, behind the project's own types."""
