"""The shipped calibration prompts are made from the grammar's vocabulary and contain no eval prompt
(no torch needed)."""
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import make_calibration_prompts as m  # noqa: E402


class CalibrationTests(unittest.TestCase):
    def test_file_is_the_generators_output(self):
        shipped = (HERE.parent / "calibration_prompts.txt").read_text().splitlines()
        self.assertEqual(shipped, m.calibration_prompts())

    def test_no_eval_prompt(self):
        shipped = set((HERE.parent / "calibration_prompts.txt").read_text().splitlines())
        evals = m.eval_prompts()
        self.assertEqual(len(evals), 420)
        self.assertEqual(shipped & set(evals), set())

    def test_vocabulary_only(self):
        words = set(m.COLORS) | set(m.SHAPES) | {s + "s" for s in m.SHAPES} | set(m.NUMBERS) | \
            {"a", "an", "and", "to", "the", "left", "right", "of", "above", "below"}
        for line in (HERE.parent / "calibration_prompts.txt").read_text().splitlines():
            self.assertTrue(set(line.split()) <= words, line)

    def test_eval_prompts_start_as_swift_does(self):
        # first prompts of each category as DefaultEvalPrompts gives them (checked against `ternflux eval --json`)
        e = m.eval_prompts()
        self.assertEqual(e[0:3], ["a square", "a triangle", "a circle"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
