"""Graded exercises: student releases and an autograder, built on nbgrader's preprocessors.

- :mod:`cnnlib.grading.release`   student (and grader) versions of the course notebooks;
- :mod:`cnnlib.grading.autograde` run submissions in fresh kernels and score them;
- :mod:`cnnlib.grading.sandbox`   the bubblewrap sandbox each kernel runs in;
- :mod:`cnnlib.grading.replay`    every check decided again in a trusted process, on plain data;
- :mod:`cnnlib.grading.report`    ``grades.csv`` and one feedback file per submission.

Command line: ``python -m cnnlib.grading release|grade --help`` (``make release``,
``make grade SUBMISSIONS=dir``). The exercise markup is nbgrader's own, so a full nbgrader
course (``nbgrader generate_assignment`` / ``autograde``) works on the same notebooks.
"""
