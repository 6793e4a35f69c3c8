"""lmrl_course."""
