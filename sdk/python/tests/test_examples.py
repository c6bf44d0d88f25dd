"""The reference's Python examples, verbatim apart from the token (the base
URL comes from NEUAIS_URL)."""

from __future__ import annotations

import unittest

from .support import env

QUICKSTART = '''
from neuais import Client
client = Client("your-token")
agents = client.agents.list()
'''

ONE_LINE = '''
from neuais import Client
agents = Client("your-token").agents.list()
'''


class TestExamples(unittest.TestCase):
    def test_reference(self) -> None:
        for src in (QUICKSTART, ONE_LINE):
            scope: dict[str, object] = {}
            exec(src.replace("your-token", env("NEUAIS_TOKEN")), scope)
            self.assertIsInstance(scope["agents"].total, int)  # type: ignore[attr-defined]
