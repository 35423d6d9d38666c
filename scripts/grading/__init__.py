"""The course's autograder (``make grade``; issue 21).

One concern per module:

- :mod:`.course`: the chapters, their exercises and student editions, read from ``book/``;
- :mod:`.submissions`: finding submissions in a folder or a ``.zip`` (safely);
- :mod:`.assemble`: the notebook that is run: the course's cells, the student's answers;
- :mod:`.sandbox`: the bubblewrap box, its limits, and running a job in it;
- :mod:`.box_runner`: the program that runs *inside* the box (cells, then probes);
- :mod:`.serialize`: turning what an exercise produced into plain JSON data (in the box);
- :mod:`.probes`: per exercise, what to call and which data decides correctness;
- :mod:`.compare`: the grader-side comparison of that data with the reference's;
- :mod:`.grade_one`: grading one (student, notebook): a JSON result;
- :mod:`.gradebook`: the SQLite gradebook (submissions, results, overrides);
- :mod:`.outputs`: ``grades.csv``, ``summary.csv`` and the feedback pages;
- :mod:`.batch`: a batch in parallel, with a progress bar and a summary.

The command is ``scripts/grade.py`` (``--help``). Taught in: the instructor guide
("Grading").
"""
