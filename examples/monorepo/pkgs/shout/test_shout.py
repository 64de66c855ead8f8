import unittest

from pkgs.shout import shout


class ShoutTest(unittest.TestCase):
    def test_shouts(self) -> None:
        self.assertEqual(shout("qik"), "HELLO, QIK!")
