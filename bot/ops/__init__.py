"""Measurement, kept out of the runtime import path: retrieval and answer quality on the
project's question sets and on BEIR datasets (:mod:`~bot.ops.evaluation`, :mod:`~bot.ops.beir`),
performance figures (:mod:`~bot.ops.bench`, written up by :mod:`~bot.ops.bench_report`), the
scale-out comparison (:mod:`~bot.ops.scaleout`), and the harness that starts the app as a child
process for them (:mod:`~bot.ops.harness`). Only the command line imports it, and only for
``eval`` and ``bench``; no module the app runs imports it."""
