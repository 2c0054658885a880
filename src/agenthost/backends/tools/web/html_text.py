"""HTML to readable text: shared with the knowledge bases, so it lives in backends.common."""

from agenthost.backends.common.html_text import html_to_text

__all__ = ["html_to_text"]
