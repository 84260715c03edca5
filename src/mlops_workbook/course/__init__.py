"""The course itself, not what it teaches: the command line, running lessons per environment, labs generated from
their solutions, checking and grading submissions, and helpers only the notebooks use (the stage map, the capstone's
timeline, tables' display, in-notebook tests)."""
