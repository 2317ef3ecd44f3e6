"""Results folder -> pandas DataFrames -> report tables and plots (python -m analysis FOLDER)."""
