"""The AI coach (Qt-free): LLM factory with fallbacks, live coach, TTS, AI Mode plans,
versioned prompts and an offline rule-based coach.

Importing this package never imports LangChain, OpenAI or Opik; they load on first use.
Import the submodules directly (``from fretcoach_desktop.coach.live import LiveCoach``).
"""

from fretcoach_desktop.coach.types import CoachMessage, CoachWindow

__all__ = ["CoachMessage", "CoachWindow"]
