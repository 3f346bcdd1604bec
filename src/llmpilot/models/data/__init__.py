"""Packaged multiple-choice benchmark files (see README.md here for provenance and licences)."""
