"""FretCoach Desktop: a practice companion for guitarists."""

__version__ = "0.1.0"
