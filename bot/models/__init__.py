"""The machine-learning adapters, each importing its heavy package only when first used, and
returning LangChain's own interfaces: the sentence embedders (:mod:`~bot.models.embeddings`: the
bundled model on ONNX Runtime or PyTorch, and the deterministic fake of the tests), the ONNX
export and encoder (:mod:`~bot.models.onnx_encoder`), the embedding cache
(:mod:`~bot.models.cache`) and the optional LLM chat models (:mod:`~bot.models.chat`)."""
