"""The moto stack (``aws``) and the vendor emulator (``emulator``) for this folder's tests."""

from tests.support.fixtures import aws, emulator

__all__ = ["aws", "emulator"]
