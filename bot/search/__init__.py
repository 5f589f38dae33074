"""Finding the passages for a question (:mod:`~bot.search.retrieval`): exhaustive dense search
over the live version's vectors and BM25, fused by reciprocal rank, with filters and at most a
few passages a document; wrapped as a LangChain retriever."""
