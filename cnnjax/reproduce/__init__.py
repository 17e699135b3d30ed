"""`cnnjax reproduce`: studies of published tables, their runs, and the Markdown report."""
