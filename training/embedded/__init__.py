"""Training of the embedded backend: MiniLM-L6 + LoRA adapters + one head per aspect.

``python -m training.embedded.train --data ../shared/data --out models/artifacts/embedded-v1``
rebuilds the shipped artifact (``finfeed train-embedded`` wraps it).
"""
