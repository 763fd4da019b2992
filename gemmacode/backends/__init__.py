"""Model backends: one async interface (``base.Backend``) over Ollama, llama.cpp, OpenAI."""
