"""The machine-learning adapters, each importing its heavy package only when first used: the
sentence embedders and the embedding cache (:mod:`~bot.models.embeddings`: the bundled model on
ONNX Runtime or PyTorch, and the deterministic fake of the tests) and the ONNX export and encoder
(:mod:`~bot.models.onnx_encoder`). They return LangChain's own interfaces."""
