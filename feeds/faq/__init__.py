"""The FAQ per paper from a language model (issue 13's [Kimi] button): the paper's PDF through the polite
client, its text (pypdf), fixed questions per language, an OpenAI-compatible streaming endpoint, and a
restart-safe queue of jobs kept in the database."""

from feeds.faq.jobs import FaqEngine, FaqSnapshot
from feeds.faq.llm import ChatClient, Chunk
from feeds.faq.prompts import PROMPT_VERSION

__all__ = ["PROMPT_VERSION", "ChatClient", "Chunk", "FaqEngine", "FaqSnapshot"]
