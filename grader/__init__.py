"""Instructor tooling for the minnas course, on nbgrader: release lessons, autograde a class.

Run ``python -m grader --help``. The functions behind the commands live in :mod:`grader.course`.
"""
