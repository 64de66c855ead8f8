import unittest

from pkgs.greet import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(greet("qik"), "hello, qik")
