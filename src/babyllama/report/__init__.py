"""Reports derived from run records: plots (and, later, tables and Markdown/HTML reports)."""
