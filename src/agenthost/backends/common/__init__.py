"""What several backends share: the pooled HTTP client factory and the SSE decoder.

A layer below the sibling backends (models, sessions, tools, knowledge, agents): they may
import it, it imports none of them (import-linter checks both). Nothing here imports aiohttp
until a module that needs it is imported.
"""
