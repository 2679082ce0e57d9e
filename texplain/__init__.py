"""TExplain: explain a frozen classifier's features through a frozen language model.

Taghanaki, Khani et al., "Explaining learned visual features via pre-trained (frozen) language models".

    image -> FrozenClassifier -> Z (tokens x D) -> Translator (the only trained part)
          -> conditioning of a FrozenDecoder -> N sentences (nucleus sampling) -> word statistics -> word cloud

The three parts are separate objects (classifier.py, translators/, decoders/), combined explicitly by
training.py, sampling/ and, for notebooks, explainer.py:

    from texplain import Explainer
    explanations = Explainer.from_checkpoint("runs/<run>/translator").explain(["photo.jpg"])

This package writes no result files; the harness does.
"""

__version__ = "0.1.0"

# The public API, imported on first use: `import texplain.sampling` (as the harness does, module by module)
# then does not pull in the classifier, decoder and checkpoint code that Explainer needs.
__all__ = ["__version__", "Explainer", "Explanation", "Prediction", "HookedClassifier", "train_explainer"]


def __getattr__(name: str):
    if name in ("Explainer", "Explanation", "Prediction"):
        from texplain import explainer

        return getattr(explainer, name)
    if name == "HookedClassifier":
        from texplain.hooked_classifier import HookedClassifier

        return HookedClassifier
    if name == "train_explainer":
        from texplain.fit import train_explainer

        return train_explainer
    raise AttributeError(f"module 'texplain' has no attribute '{name}'")
