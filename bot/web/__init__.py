"""The web app: the HTTP API and the Gradio pages mounted on FastAPI (:mod:`~bot.web.api`), behind
streamed body limits and security headers (:mod:`~bot.web.http_guard`); the chat
(:mod:`~bot.web.ui`, :mod:`~bot.web.answer_view`, :mod:`~bot.web.related`,
:mod:`~bot.web.conversation`, :mod:`~bot.web.viewer`, ``static/``), the evidence browser
(:mod:`~bot.web.evidence_ui`) and the staff area (:mod:`~bot.web.staff_ui` over
:mod:`~bot.web.staff`). Handlers call the bot's use cases and render what comes back."""
