"""rnn-recipes: ready Keras RNN recipes that turn sequence data into trained, exported models.

Importing this package is cheap: TensorFlow and Keras are imported only where the work starts
(see :mod:`rnn_recipes._lazy`), so ``rnn-recipes --help``, ``list`` and ``show`` answer instantly.
"""

__version__ = "0.1.0"
