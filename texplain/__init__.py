"""TExplain: explain a frozen classifier's features through a frozen language model.

Taghanaki, Khani et al., "Explaining learned visual features via pre-trained (frozen) language models".

    image -> FrozenClassifier -> Z (tokens x D) -> Translator (the only trained part)
          -> conditioning of a FrozenDecoder -> N sentences (nucleus sampling) -> word statistics -> word cloud

The three parts are separate objects (classifier.py, translators/, decoders/), combined explicitly by
training.py and sampling.py. This package writes no result files; the harness does.
"""

__version__ = "0.1.0"
