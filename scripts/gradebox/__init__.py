"""What runs inside the grader's box (issue 21), and the data it produces.

- :mod:`.box_runner`: the program the sandbox starts: runs the notebook's cells, then
  each exercise's probe, and writes one JSON line per event;
- :mod:`.serialize`: an exercise's results as plain JSON data (never pickle);
- :mod:`.probes`: per exercise, what to call on which inputs;
- :mod:`.compare`: the comparison of that data, which the *grader* runs.

This package is mounted read-only into the box, alone (the rest of ``scripts/`` and
the book stay outside); it imports nothing from ``scripts/grading``.
"""
