"""Writing the answer from the passages found: extractive by default
(:mod:`~bot.answer.extractive`: the section that answers, quoted and cited, or an honest decline
or refusal), or with an LLM whose every sentence is checked against the sources
(:mod:`~bot.answer.llm`, :mod:`~bot.answer.prompts`)."""
