"""Command-line scripts that regenerate the shipped assets (``python -m lmrl_course.scripts.<name>``)."""
