"""Writing the answer. :mod:`~bot.answer.pipeline` takes a question from the policy checks
through the search and the scope judgement to an answer: extractive by default
(:mod:`~bot.answer.extractive`: the section that answers, quoted and cited), or from an LLM whose
every sentence is checked against the sources (:mod:`~bot.answer.llm`, with its prompts in
:mod:`~bot.answer.prompts`). Declines, refusals and every other fixed sentence a user may read
are in :mod:`~bot.answer.replies`; quoting and citing in :mod:`~bot.answer.citing`."""
