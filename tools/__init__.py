"""Maintainer tools run from a checkout (not installed with the package); see docs/testing.md."""
